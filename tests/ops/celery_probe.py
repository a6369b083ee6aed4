"""The console's Celery app with one more task, for the worker process a log
test starts: the task writes a line holding whatever the test hands it."""

import logging

from recovery_console.celery import app

log = logging.getLogger("recovery_console.probe")


@app.task(name="tests.ops.celery_probe.write_log_line")
def write_log_line(text: str) -> str:
    log.warning("probe says %s", text)
    return "written"


class PlantedError(RuntimeError):
    """What ``fail_with`` raises."""


@app.task(name="tests.ops.celery_probe.fail_with")
def fail_with(text: str) -> None:
    raise PlantedError(text)
