import io
import logging

import pytest

import recovery_console.ops.celery_signals  # noqa: F401 - what every worker imports
from recovery_console.ops.logs import JsonFormatter


@pytest.fixture
def log_output():
    """What the console's configured JSON handler writes, at every level."""
    root = logging.getLogger()
    handler = next(h for h in root.handlers if isinstance(h.formatter, JsonFormatter))
    stream = io.StringIO()
    previous_stream, previous_level = handler.setStream(stream), root.level
    root.setLevel(logging.DEBUG)
    # factory_boy's DEBUG lines are the tests' scaffolding (they echo the
    # test password), not something the console writes.
    scaffolding = logging.getLogger("factory")
    scaffolding.setLevel(logging.INFO)
    yield stream
    scaffolding.setLevel(logging.NOTSET)
    root.setLevel(previous_level)
    handler.setStream(previous_stream)
