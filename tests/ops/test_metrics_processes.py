"""Metrics across processes: gunicorn with two workers and a prefork Celery
worker share one PROMETHEUS_MULTIPROC_DIR, and one scrape through either web
worker adds up what every process counted, as under ``make serve``."""

import http.client
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from prometheus_client.parser import text_string_to_metric_families

from recovery_console.celery import app
from recovery_console.tasks import record_beat_heartbeat, sync_directory_source
from tests.services import free_port, wait_for_port

pytestmark = pytest.mark.django_db(transaction=True)
TOKEN = "scrape-me-across-processes-0123"
REPO = Path(__file__).resolve().parents[2]
CELERY_WORKER = [sys.executable, "-m", "celery", "-A", "recovery_console", "worker",
                 "--pool=prefork", "--concurrency=2", "--without-gossip", "--without-mingle",
                 "--without-heartbeat", "--loglevel=WARNING"]


def database_url(tmp_path: Path) -> str:
    """The test database, as the servers started here must reach it: on
    PostgreSQL the test database itself; on SQLite (in memory) a copy on disk."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        copy = tmp_path / "db.sqlite3"
        with connection.cursor() as cursor:
            cursor.execute("VACUUM INTO %s", [str(copy)])
        return f"sqlite:///{copy}"
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture
def server_env(tmp_path):
    folder = tmp_path / "prometheus"
    folder.mkdir()
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "recovery_console.settings",
            "DATABASE_URL": database_url(tmp_path), "METRICS_TOKEN": TOKEN,
            "PROMETHEUS_MULTIPROC_DIR": str(folder), "VAR_DIR": str(settings.VAR_DIR),
            "WEB_CONCURRENCY": "2", "LOG_LEVEL": "WARNING"}


@contextmanager
def running(command: list[str], env: dict, log: Path):
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, cwd=REPO, stdout=out,  # noqa: S603
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


@contextmanager
def gunicorn(env: dict, log: Path):
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-c", "python:recovery_console.ops.gunicorn",
               "recovery_console.wsgi"]
    with running(command, {**env, "PORT": str(port)}, log) as process:
        wait_for_port(port, timeout=60)
        yield port, process


def get(port: int, path: str, headers: dict | None = None) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def samples_of(text: str) -> dict:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def scrape(port: int, token: str | None = TOKEN) -> dict:
    status, text = get(port, "/metrics", {"Authorization": f"Bearer {token}"} if token else {})
    assert status == 200, text
    return samples_of(text)


def workers_of(master: subprocess.Popen) -> set[int]:
    children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
    return {int(pid) for pid in children}


def pids_with_files(folder: Path) -> set[int]:
    return {int(p.stem.rpartition("_")[2]) for p in folder.glob("histogram_*.db")}


HEALTHZ = ("recovery_http_request_duration_seconds_count",
           frozenset({"view": "healthz", "method": "GET", "status": "2xx"}.items()))


def test_one_scrape_adds_up_the_requests_every_gunicorn_worker_answered(server_env, tmp_path):
    folder = Path(server_env["PROMETHEUS_MULTIPROC_DIR"])
    stale = folder / "counter_999999999.db"  # left by a process long gone
    stale.write_bytes(b"\0" * 16)
    with gunicorn(server_env, tmp_path / "gunicorn.log") as (port, master):
        assert not stale.exists(), "gunicorn kept a dead process's metrics"
        sent = 0
        with ThreadPoolExecutor(max_workers=8) as pool:
            # Concurrent requests until both workers have answered some.
            for _ in range(30):
                statuses = list(pool.map(lambda _: get(port, "/healthz")[0], range(16)))
                assert statuses == [200] * 16
                sent += 16
                if len(pids_with_files(folder) & workers_of(master)) == 2:
                    break
        assert len(pids_with_files(folder) & workers_of(master)) == 2, \
            "one worker answered everything"
        assert scrape(port)[HEALTHZ] == sent

        # A worker that dies takes nothing away: its counts stay in the folder.
        victim = sorted(pids_with_files(folder) & workers_of(master))[0]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (victim in workers_of(master)
                                               or len(workers_of(master)) < 2):
            time.sleep(0.1)
        assert victim not in workers_of(master) and len(workers_of(master)) == 2
        assert get(port, "/healthz")[0] == 200
        assert scrape(port)[HEALTHZ] == sent + 1


def test_a_celery_worker_on_the_same_host_shows_in_the_web_scrape(server_env, tmp_path):
    app.control.purge()  # tasks queued by earlier tests, never run
    with running(CELERY_WORKER, server_env, tmp_path / "celery.log"), \
            gunicorn(server_env, tmp_path / "gunicorn.log") as (port, _):
        for _ in range(3):
            record_beat_heartbeat.delay()
        for _ in range(2):
            sync_directory_source.delay(999_999_999)  # no such source: the task raises
        heartbeat = frozenset({"task": "recovery_console.tasks.record_beat_heartbeat"}.items())
        sync = frozenset({"task": "recovery_console.tasks.sync_directory_source"}.items())
        expected = {
            ("recovery_celery_task_duration_seconds_count", heartbeat): 3,
            ("recovery_sweep_duration_seconds_count",
             frozenset({"sweep": "recovery_console.tasks.record_beat_heartbeat"}.items())): 3,
            ("recovery_celery_task_duration_seconds_count", sync): 2,
            ("recovery_celery_task_failures_total", sync): 2,
        }
        deadline, samples = time.monotonic() + 90, {}
        while time.monotonic() < deadline:
            samples = scrape(port)
            if all(samples.get(key, 0) >= n for key, n in expected.items()):
                break
            time.sleep(0.5)
        assert {key: samples.get(key, 0) for key in expected} == expected
        assert ("recovery_celery_task_failures_total", heartbeat) not in samples


def test_a_worker_host_without_gunicorn_serves_its_own_task_metrics(server_env, tmp_path):
    """Two workers on the host: the first serves the folder both write to, the
    second finds the port taken and keeps working."""
    app.control.purge()
    port = free_port()
    folder = Path(server_env["PROMETHEUS_MULTIPROC_DIR"])
    stale = folder / "histogram_999999999.db"  # left by a process long gone
    stale.write_bytes(b"\0" * 16)
    env = {**server_env, "WORKER_METRICS_PORT": str(port)}
    with running(CELERY_WORKER, env, tmp_path / "celery-1.log"):
        wait_for_port(port, timeout=60)
        assert not stale.exists(), "the worker kept a dead process's metrics"
        with running(CELERY_WORKER, env, tmp_path / "celery-2.log") as second:
            for _ in range(4):
                sync_directory_source.delay(999_999_999)  # no such source: the task raises
            key = ("recovery_celery_task_failures_total",
                   frozenset({"task": "recovery_console.tasks.sync_directory_source"}.items()))
            deadline, samples = time.monotonic() + 60, {}
            while time.monotonic() < deadline and samples.get(key, 0) < 4:
                samples = scrape(port, token=None)
                time.sleep(0.5)
            assert samples.get(key) == 4
            assert second.poll() is None, "the second worker stopped"
        # The database figures are the web's: a worker host has none to give.
        assert not any(name.startswith("recovery_cases") for name, _ in samples)
