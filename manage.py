#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "recovery_console.settings")
    from django.core.management import execute_from_command_line

    from recovery_console.ops import tracing

    tracing.start()  # only when an OTLP endpoint is set
    with tracing.command_span(sys.argv):
        execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
