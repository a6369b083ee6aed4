"""JSON log lines with request ids and case correlation ids."""

import json
import logging
import re

import pytest

from recovery_console.ops.logs import JsonFormatter, redact
from tests.factories import recovery_case, staff
from tests.sessions import sign_in_client

pytestmark = pytest.mark.django_db


def lines(stream) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_every_response_carries_a_new_request_id(client):
    first, second = client.get("/healthz"), client.get("/healthz")
    assert len(first["X-Request-ID"]) == 32
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_a_sane_inbound_request_id_is_kept_and_logged(client, log_output):
    response = client.get("/accounts/sign-in/", HTTP_X_REQUEST_ID="lb-7f3a9c2e-0001")
    assert response["X-Request-ID"] == "lb-7f3a9c2e-0001"
    request_line = next(e for e in lines(log_output) if e["logger"] == "recovery_console.request")
    assert request_line["request_id"] == "lb-7f3a9c2e-0001"
    assert request_line["method"] == "GET" and request_line["status"] == 200
    assert request_line["path"] == "/accounts/sign-in/"
    assert isinstance(request_line["duration_ms"], float)


@pytest.mark.parametrize("inbound", ["short", "x" * 200, "has spaces in it",
                                     "line\nbreak-injected", '"quoted-value"'])
def test_an_insane_inbound_request_id_is_replaced(client, inbound):
    response = client.get("/healthz", HTTP_X_REQUEST_ID=inbound)
    assert response["X-Request-ID"] != inbound
    assert len(response["X-Request-ID"]) == 32


def test_lines_on_a_case_page_carry_the_case_correlation_id(client, log_output):
    agent = staff("agent")
    case = recovery_case("low", agent=agent)
    sign_in_client(client, agent)
    client.get(f"/cases/{case.pk}/")
    request_line = next(e for e in lines(log_output) if e.get("path", "").startswith("/cases"))
    assert request_line["correlation_id"] == f"case-{case.pk}"


def test_djangos_own_warnings_are_json_with_the_request_id(client, log_output):
    client.get("/no-such-page/", HTTP_X_REQUEST_ID="probe-123456789")
    warning = next(e for e in lines(log_output) if e["logger"] == "django.request")
    assert warning == {**warning, "level": "WARNING", "message": "Not Found: /no-such-page/",
                       "status_code": 404, "request_id": "probe-123456789"}


def test_the_formatter_writes_one_json_object_with_the_exception():
    try:
        raise ValueError("bad value")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed %s", ("here",),
                                   sys.exc_info())
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "failed here" and entry["level"] == "ERROR"
    assert "ValueError: bad value" in entry["exception"]
    assert "\n" not in JsonFormatter().format(record)


@pytest.mark.parametrize(("text", "expected"), [
    ("Bad Request: /recover/AbC-_12x/", "Bad Request: /recover/[redacted]/"),
    ("GET /attest/tok_en-9?x=1 200", "GET /attest/[redacted]?x=1 200"),
    ("/recover/enrol/options/", "/recover/enrol/options/"),
    ("/recover/done/", "/recover/done/"),
    ("/recover/", "/recover/"),
])
def test_links_that_carry_secrets_are_redacted(text, expected):
    assert redact(text) == expected


def test_secret_links_are_redacted_in_every_field_of_a_line():
    import sys

    try:
        raise ValueError("no credential at /recover/h4ndle-in-exception/")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "refused %s",
                                   ("/attest/t0ken-in-message/",), sys.exc_info())
    record.path = "/recover/not-me/t0ken-in-path/"
    record.task_name = {"links": ["/my/enrol/t0ken-in-extra/"]}
    record.stack_info = "Stack (most recent call last):\n  /attest/t0ken-in-stack/"
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert entry["message"] == "refused /attest/[redacted]/"
    assert entry["path"] == "/recover/not-me/[redacted]/"
    assert entry["task_name"] == {"links": ["/my/enrol/[redacted]/"]}
    assert "/recover/[redacted]/" in entry["exception"]
    assert "/attest/[redacted]/" in entry["stack"]
    assert "t0ken" not in line and "h4ndle" not in line


def test_a_line_holds_the_known_fields_only_in_their_order():
    record = logging.LogRecord("recovery_console.request", logging.INFO, __file__, 1,
                               "GET / 200", (), None)
    record.request_id, record.correlation_id = "req-00000001", None
    record.request = object()  # Django passes its request object along
    record.status, record.duration_ms, record.shoe_size = 200, 1.5, 44
    entry = json.loads(JsonFormatter().format(record))
    assert list(entry) == ["time", "level", "logger", "message", "request_id", "status",
                           "duration_ms"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", entry["time"])


def test_a_redemption_names_its_case_without_a_lookup_of_its_own(client, log_output):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from recovery_console import workflow
    from tests.recovery.support import approved, redeeming

    agent = staff("agent")
    case = approved(recovery_case("low", agent=agent), agent)
    issued = workflow.issue_credential(case, agent)
    with CaptureQueriesContext(connection) as captured:
        client.post(f"/recover/{issued.credential.handle}/", redeeming("wrong-code"))
        client.post(f"/recover/{issued.credential.handle}/", redeeming(issued.code))
    posts = [e for e in lines(log_output) if e.get("method") == "POST"]
    assert [e["status"] for e in posts] == [400, 302]
    assert {e["correlation_id"] for e in posts} == {f"case-{case.pk}"}
    assert not any('"case_id" AS "case_id"' in q["sql"] for q in captured.captured_queries)
