"""What the console's processes write to standard error, read from real
processes: a Celery worker (its own lines and a task's) and gunicorn (its own
lines and the request lines) write nothing but one JSON object per line."""

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest

from recovery_console.celery import app
from tests.services import free_port, wait_for_port

from .test_one_line import HOSTILE, assert_one_line

ROOT = Path(__file__).resolve().parents[2]
# The probe task and the test both reach the worker through the broker; a
# queue of its own keeps earlier tests' tasks away from this worker.
PROBE_TASK = "tests.ops.celery_probe.write_log_line"
SECRET_LINK = "/recover/k3Y-handle-0123456789/"
# Celery warns before any logging is set up when a worker runs as root (as
# it may in a container running these tests); a deployment never does.
AS_ROOT = "ignore:You're running the worker with superuser privileges"


def process_env(**extra) -> dict:
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "LOG_LEVEL": "INFO",
            "LOG_FORMAT": "json", **extra}


def json_lines(path: Path) -> list[dict]:
    return [assert_one_line(line) for line in path.read_text(encoding="utf-8").splitlines()]


def wait_for_line(path: Path, predicate, timeout: float = 90.0) -> dict | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [entry for entry in json_lines(path) if predicate(entry)]
        if found:
            return found[0]
        time.sleep(0.2)
    return None


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextmanager
def celery_worker(stderr: Path, **env):
    """A Celery worker process (prefork, one child) on a queue of its own,
    with the console's app and the probe tasks; yields the queue. Its
    standard error goes to ``stderr``."""
    queue = f"log-probe-{uuid.uuid4().hex[:12]}"
    with stderr.open("w") as err:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-W", AS_ROOT, "-m", "celery", "-A", "tests.ops.celery_probe",
             "worker", "--pool=prefork", "--concurrency=1", "-Q", queue, "-n", f"{queue}@%h",
             "--without-heartbeat", "--without-mingle", "--without-gossip"],
            cwd=ROOT, env=process_env(**env), stdout=subprocess.DEVNULL, stderr=err)
    try:
        ready = wait_for_line(stderr, lambda e: e["message"].endswith(" ready."))
        assert ready, stderr.read_text()
        yield queue
    finally:
        stop(process)


@pytest.fixture
def celery_worker_process(tmp_path):
    stderr = tmp_path / "worker.err"
    with celery_worker(stderr) as queue:
        yield queue, stderr


def test_a_celery_worker_and_its_tasks_write_json_lines_with_the_task_id(
        celery_worker_process):
    queue, stderr = celery_worker_process
    task_id = app.send_task(PROBE_TASK, args=[f"{HOSTILE} {SECRET_LINK}"], queue=queue).id

    succeeded = wait_for_line(stderr, lambda e: e["message"].startswith(
        f"Task {PROBE_TASK}[{task_id}] succeeded"))
    assert succeeded, stderr.read_text()
    lines = json_lines(stderr)  # every line, the worker's start-up included
    received = next(e for e in lines if e["message"] == f"Task {PROBE_TASK}[{task_id}] received")
    own = next(e for e in lines if e["logger"] == "recovery_console.probe")
    for entry in (received, own, succeeded):
        assert entry["request_id"] == f"task-{task_id}", entry
    assert received["logger"] == "celery.worker.strategy" and received["level"] == "INFO"
    assert received["task_id"] == succeeded["task_id"] == task_id
    assert received["task_name"] == PROBE_TASK
    assert own["level"] == "WARNING"
    assert own["message"] == f"probe says {HOSTILE} /recover/[redacted]/"
    assert "k3Y-handle" not in stderr.read_text()


@pytest.fixture
def gunicorn_process(tmp_path):
    """gunicorn with the console's settings file; yields its port and the
    file its standard error goes to."""
    port, stderr = free_port(), tmp_path / "gunicorn.err"
    with stderr.open("w") as err:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", "gunicorn", "-c", "python:recovery_console.ops.gunicorn",
             "recovery_console.wsgi"],
            cwd=ROOT, env=process_env(PORT=str(port), WEB_CONCURRENCY="1",
                                      WEB_TIMEOUT_SECONDS="120"),
            stdout=subprocess.DEVNULL, stderr=err)
    try:
        wait_for_port(port, timeout=30)
        yield port, stderr
    finally:
        stop(process)


def get(url: str, **headers) -> int:
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - a local http URL
    try:
        # The first request waits for the worker to load the console (slow on a busy machine).
        with urllib.request.urlopen(request, timeout=90) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as refused:
        return refused.code


def test_gunicorn_and_the_requests_it_serves_write_json_lines(gunicorn_process):
    port, stderr = gunicorn_process
    base = f"http://127.0.0.1:{port}"
    assert get(f"{base}/healthz", **{"X-Request-ID": "probe-gunicorn-0001"}) == 200
    path = "/no-such-page/" + HOSTILE.replace("\x00", "") + "/"
    assert get(base + quote(path, safe="/"), **{"X-Request-ID": "probe-gunicorn-0002"}) == 404

    missing = wait_for_line(stderr, lambda e: e.get("request_id") == "probe-gunicorn-0002"
                            and e["logger"] == "recovery_console.request")
    assert missing, stderr.read_text()
    assert missing["path"] == path and missing["status"] == 404
    lines = json_lines(stderr)
    assert any(e["logger"] == "gunicorn.error" and e["message"].startswith("Listening at")
               for e in lines)
    assert any(e["logger"] == "django.request" and e["request_id"] == "probe-gunicorn-0002"
               and e["message"].startswith("Not Found: /no-such-page/") for e in lines)
