"""Error reports go to a Sentry-compatible service only when SENTRY_DSN is
set, and carry no code, token, link, address or number a person could be
found or let in by. The service here is a local HTTP server speaking Sentry's
envelope protocol; the console runs in a process of its own (sentry-sdk's
set-up is global to a process), see tests/ops/sentry_probe.py."""

import gzip
import json
import os
import subprocess
import sys
import threading
import zlib
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from recovery_console.celery import app
from recovery_console.ops.errors import scrub_text
from tests.services import wait_for

from . import sentry_probe as probe
from .test_process_logs import celery_worker

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "42"


@contextmanager
def sentry_service():
    """A local service accepting envelopes at /api/<project>/envelope/ (gzip,
    deflate or plain, as the SDK sends them); yields the decoded bodies."""
    received: list[bytes] = []

    class Envelopes(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            encoding = self.headers.get("Content-Encoding", "")
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "deflate":
                body = zlib.decompress(body)
            elif encoding:
                self.send_response(415)
                self.end_headers()
                return
            if self.path != f"/api/{PROJECT}/envelope/" or "sentry_key=" not in self.headers.get(
                    "X-Sentry-Auth", ""):
                self.send_response(404)
                self.end_headers()
                return
            received.append(body)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Envelopes)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://publickey0123456789@127.0.0.1:{server.server_port}/{PROJECT}", received
    finally:
        server.shutdown()
        server.server_close()


def run_probe(**env) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", **env}
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "tests.ops.sentry_probe"], cwd=ROOT, env=full_env,
        capture_output=True, text=True, timeout=120)


def events(envelope: bytes) -> list[dict]:
    """The event items of one envelope (header line, then item header and
    payload pairs; a payload's length is given or it runs to the newline)."""
    _header, _, rest = envelope.partition(b"\n")
    found = []
    while rest.strip():
        item_line, _, rest = rest.partition(b"\n")
        item = json.loads(item_line)
        if "length" in item:
            payload, rest = rest[:item["length"]], rest[item["length"]:].removeprefix(b"\n")
        else:
            payload, _, rest = rest.partition(b"\n")
        if item.get("type") == "event":
            found.append(json.loads(payload))
    return found


def test_an_unhandled_view_exception_is_reported_without_any_secret():
    with sentry_service() as (dsn, received):
        result = run_probe(SENTRY_DSN=dsn, SENTRY_ENVIRONMENT="staging",
                           SENTRY_RELEASE="console@1.2.3")
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.splitlines()[-1])
    assert outcome == {"status": 500, "sentry_sdk_imported": True, "client_active": True}

    reported = [event for envelope in received for event in events(envelope)]
    failure = next(e for e in reported if e.get("exception"))
    exception = failure["exception"]["values"][-1]
    assert exception["type"] == "PlantedError"
    assert exception["value"].startswith("code [number] and [code] for [email] at [phone], from "
                                         "[ip] and [ip], via /recover/[redacted]/ and "
                                         "/attest/[redacted]/ with [token]")
    assert failure["environment"] == "staging" and failure["release"] == "console@1.2.3"
    assert failure["tags"]["request_id"] == probe.REQUEST_ID
    assert failure["request"]["method"] == "POST"
    assert set(failure["request"]) == {"method", "url", "headers"}
    assert all("vars" not in frame for frame in exception["stacktrace"]["frames"])
    logged = next(e for e in reported if e.get("logentry"))  # the view's ERROR line
    assert "[email]" in json.dumps(logged["logentry"])

    raw = b"".join(received).decode("utf-8")
    leaked = [secret for secret in probe.PLANTED
              if secret in raw or json.dumps(secret)[1:-1] in raw]
    assert not leaked, f"secrets in the report: {leaked}"


def test_a_failing_celery_task_is_reported_with_its_task_id_and_without_any_secret(tmp_path):
    planted = (f"code {probe.CODE} for {probe.EMAIL} at {probe.PHONE} from {probe.IPV4} via "
               f"/recover/{probe.HANDLE}/ with {probe.TOKEN}")
    with sentry_service() as (dsn, received), \
            celery_worker(tmp_path / "worker.err", SENTRY_DSN=dsn) as queue:
        task_id = app.send_task("tests.ops.celery_probe.fail_with", args=[planted],
                                queue=queue).id
        assert wait_for(lambda: any(events(envelope) for envelope in received), timeout=90)
    failure = next(e for envelope in received for e in events(envelope) if e.get("exception"))
    assert failure["exception"]["values"][-1]["type"] == "PlantedError"
    assert failure["tags"]["request_id"] == f"task-{task_id}"
    raw = b"".join(received).decode("utf-8")
    leaked = [secret for secret in probe.PLANTED if secret in raw]
    assert not leaked, f"secrets in the report: {leaked}"


def test_without_a_dsn_nothing_is_set_up_and_nothing_is_sent():
    with sentry_service() as (_dsn, received):
        result = run_probe(SENTRY_DSN="")
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.splitlines()[-1])
    assert outcome == {"status": 500, "sentry_sdk_imported": False, "client_active": False}
    assert received == []


def test_a_malformed_dsn_is_a_clear_error_at_start():
    result = run_probe(SENTRY_DSN="sentry.example.org/42")
    assert result.returncode != 0
    assert "SENTRY_DSN is not a valid DSN" in result.stderr


@pytest.mark.parametrize("rate", ["often", "1.5", "-0.1"])
def test_a_traces_sample_rate_outside_zero_to_one_is_a_clear_error(rate):
    with sentry_service() as (dsn, received):
        result = run_probe(SENTRY_DSN=dsn, SENTRY_TRACES_SAMPLE_RATE=rate)
    assert result.returncode != 0
    assert "SENTRY_TRACES_SAMPLE_RATE must be a number from 0 to 1" in result.stderr
    assert received == []


@pytest.mark.parametrize(("text", "expected"), [
    ("mail pat.o'neil+desk@mail.example.co.uk now", "mail pat.o'[email] now"),
    ("call +1 (555) 010-0123 or 020 7946 0958", "call [phone] or [phone]"),
    ("from 192.0.2.1, ::1 and fe80::1ff:fe23:4567:890a", "from [ip], [ip] and [ip]"),
    ("code 004711 then ABCDE-FGHJK-LMNPQ-RSTUV", "code [number] then [code]"),
    ("link /recover/AbC-_12x/ and /my/enrol/tok9/", "link /recover/[redacted]/ and "
                                                    "/my/enrol/[redacted]/"),
    # What must stay readable: times, dates, versions, small numbers, names.
    ("at 08:49:05 on 2026-11-30, psycopg 3.3.9, case 4711, port 8000",
     "at 08:49:05 on 2026-11-30, psycopg 3.3.9, case 4711, port 8000"),
    ("recovery_console.workflow.approval failed", "recovery_console.workflow.approval failed"),
])
def test_free_text_in_a_report_is_scrubbed(text, expected):
    assert scrub_text(text) == expected
