"""Every log and monitoring line stays one line: whatever a field holds (a
request path, a message, an exception, a nested value), no control character
or Unicode line separator reaches the sink raw, and the value parses back."""

import json
import logging
import re
import socket
import sys
from urllib.parse import quote

import pytest

from recovery_console import notices, outbox
from recovery_console.ops.logs import JsonFormatter, PlainFormatter
from tests.services import webhook_receiver

pytestmark = pytest.mark.django_db

# Written out here rather than taken from the code under test: C0 (ESC, CR,
# LF, VT, FF, NUL), DEL, C1 (NEL, CSI), and the line and paragraph separators.
HOSTILE = "a\x1b[31mred\rb\nc\x0bd\x0ce\x00f\x7fg\x85h\x9b2Ji\u2028j\u2029k"
RAW_BREAKERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def assert_one_line(line: str) -> dict:
    """``line`` is one line, holds no raw control or separator, and is JSON."""
    assert line.splitlines() == [line]
    assert not RAW_BREAKERS.search(line), repr(line)
    return json.loads(line)


def records(stream) -> list[dict]:
    """Each record the handler wrote (a record ends with the handler's "\\n")."""
    written = stream.getvalue()
    assert written.endswith("\n")
    return [assert_one_line(line) for line in written[:-1].split("\n")]


def test_a_request_path_with_controls_and_separators_is_logged_on_one_line(client,
                                                                              log_output):
    path = "/no-such-page/" + HOSTILE.replace("\x00", "") + "/"
    client.get(quote(path, safe="/"))
    logged = records(log_output)
    request_line = next(e for e in logged if e["logger"] == "recovery_console.request")
    assert request_line["path"] == path
    assert request_line["message"] == f"GET {path} 404"
    # Django writes its own warning with the path already backslash-escaped.
    warning = next(e for e in logged if e["logger"] == "django.request")
    assert warning["message"].startswith("Not Found: /no-such-page/a")


def test_every_field_of_a_json_log_record_stays_on_one_line():
    try:
        raise ValueError(f"bad {HOSTILE}")
    except ValueError:
        record = logging.LogRecord(f"logger{HOSTILE}", logging.ERROR, __file__, 1,
                                   "failed %s", (HOSTILE,), sys.exc_info())
    record.task_name = {"nested": [HOSTILE, {"deeper": HOSTILE}], HOSTILE: 1}
    record.remote_addr = HOSTILE
    line = JsonFormatter().format(record)
    entry = assert_one_line(line)
    assert entry["message"] == f"failed {HOSTILE}"
    assert entry["logger"] == f"logger{HOSTILE}"
    assert entry["task_name"] == {"nested": [HOSTILE, {"deeper": HOSTILE}], HOSTILE: 1}
    assert entry["remote_addr"] == HOSTILE
    assert f"ValueError: bad {HOSTILE}" in entry["exception"]


# Every code point of those classes: C0 (U+0000-U+001F), DEL, C1
# (U+0080-U+009F) and the two Unicode separators.
EVERY_BREAKER = "".join(map(chr, [*range(0x00, 0x20), 0x7f, *range(0x80, 0xa0), 0x2028, 0x2029]))


def test_every_control_and_separator_code_point_is_escaped_in_every_part_of_a_json_line():
    try:
        raise ValueError(EVERY_BREAKER)
    except ValueError:
        record = logging.LogRecord(f"logger{EVERY_BREAKER}", logging.ERROR, __file__, 1,
                                   "%s", (EVERY_BREAKER,), sys.exc_info())
    record.path = EVERY_BREAKER
    record.task_name = {EVERY_BREAKER: [EVERY_BREAKER]}
    line = JsonFormatter().format(record)
    assert len(EVERY_BREAKER) == 32 + 1 + 32 + 2
    assert not [hex(ord(char)) for char in EVERY_BREAKER if char in line]
    entry = assert_one_line(line)
    assert entry["message"] == entry["path"] == EVERY_BREAKER
    assert entry["logger"] == f"logger{EVERY_BREAKER}"
    assert entry["task_name"] == {EVERY_BREAKER: [EVERY_BREAKER]}
    assert entry["exception"].endswith(f"ValueError: {EVERY_BREAKER}")


def test_every_control_and_separator_code_point_is_escaped_in_a_plain_line():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s", (EVERY_BREAKER,), None)
    formatted = PlainFormatter("%(levelname)s %(message)s").format(record)
    assert not [hex(ord(char)) for char in EVERY_BREAKER if char in formatted]


def test_the_plain_formatter_escapes_the_line_and_marks_every_traceback_line():
    try:
        raise ValueError(f"bad {HOSTILE}")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed %s", (HOSTILE,),
                                   sys.exc_info())
    formatted = PlainFormatter("%(levelname)s %(message)s").format(record)
    first, *traceback = formatted.split("\n")
    escaped = "".join(f"\\u{ord(c):04x}" if RAW_BREAKERS.match(c) else c for c in HOSTILE)
    assert first == f"ERROR failed {escaped}"
    assert traceback and all(line.startswith("    | ") for line in traceback)
    # The exception's own line break starts a new marked line; the rest is escaped.
    assert any(line.startswith("    | ValueError: bad a\\u001b[31mred\\u000db")
               for line in traceback)
    assert not RAW_BREAKERS.search(formatted.replace("\n", ""))


# A notice's subject is stored first: PostgreSQL refuses NUL in text.
STORED = HOSTILE.replace("\x00", "")


def owe_event(key: str):
    return notices.owe_to_monitoring(decision=key, event="watch_alert",
                                     subject=f"Alert for {STORED}", body="-")


def test_the_jsonl_sink_writes_each_event_on_one_line(settings, tmp_path):
    settings.MONITORING_SINK = "jsonl"
    settings.MONITORING_JSONL_PATH = str(tmp_path / "events.jsonl")
    outbox.deliver(owe_event("alert:one-line-1").pk)
    outbox.deliver(owe_event("alert:one-line-2").pk)
    written = (tmp_path / "events.jsonl").read_text(encoding="utf-8")
    lines = written[:-1].split("\n")
    assert len(lines) == 2
    for line in lines:
        assert assert_one_line(line)["summary"] == f"Alert for {STORED}"


def test_the_webhook_sink_posts_each_event_as_one_line(settings):
    with webhook_receiver(settings) as received:
        assert outbox.deliver(owe_event("alert:one-line-webhook").pk) == "sent"
    _headers, body = received[-1]
    assert assert_one_line(body.decode("utf-8"))["summary"] == f"Alert for {STORED}"


@pytest.fixture
def syslog_receiver(settings):
    """A UDP syslog collector, and the monitoring logger pointed at it afresh."""
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    settings.MONITORING_SINK = "syslog"
    settings.MONITORING_SYSLOG_ADDRESS = f"127.0.0.1:{receiver.getsockname()[1]}"
    monitoring_logger = logging.getLogger("recovery_console.monitoring")
    kept = list(monitoring_logger.handlers), monitoring_logger.propagate
    monitoring_logger.handlers.clear()
    yield receiver
    for handler in monitoring_logger.handlers:
        handler.close()
    monitoring_logger.handlers[:], monitoring_logger.propagate = kept
    receiver.close()


def test_the_syslog_sink_sends_each_event_as_one_line(syslog_receiver):
    assert outbox.deliver(owe_event("alert:one-line-syslog").pk) == "sent"
    datagram = syslog_receiver.recv(65536).decode("utf-8")
    # RFC 3164 framing by the standard handler: "<priority>message\0".
    framed = re.fullmatch(r"<\d+>recovery-console (.*)\x00", datagram, re.DOTALL)
    assert framed, repr(datagram)
    assert assert_one_line(framed.group(1))["summary"] == f"Alert for {STORED}"
