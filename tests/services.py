"""Real servers a test starts and stops itself (never the shared ones)."""

import shutil
import socket
import subprocess
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


class ThrowawayRedis:
    def __init__(self):
        self.port = free_port()
        self.process = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603
            [shutil.which("redis-server"), "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--bind", "127.0.0.1"], stdout=subprocess.DEVNULL)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def wait_for(predicate, timeout: float = 20.0):
    """Poll ``predicate`` until it gives a true value (for work done by other
    processes) and return that value; None if it never does in time. On
    SQLite a poll that meets the worker's write lock ("database table is
    locked") counts as "not yet", not as a failure."""
    from django.db import OperationalError, connection

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except OperationalError as busy:
            if connection.vendor != "sqlite" or "locked" not in str(busy):
                raise
            value = None
        if value:
            return value
        time.sleep(0.1)
    return None


def race(*calls) -> tuple[list, list]:
    """Run the calls in threads released together, each on its own database
    connection; return (results, the WorkflowErrors raised)."""
    from django.db import connection

    from recovery_console.workflow import WorkflowError

    barrier = threading.Barrier(len(calls))
    results, refused = [], []

    def run(call):
        try:
            barrier.wait(timeout=20)
            results.append(call())
        except WorkflowError as refusal:
            refused.append(refusal)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results, refused


@contextmanager
def worker(app):
    """A real Celery worker in this process, on a queue emptied first: the
    tasks earlier tests queued and never ran (deliveries, expiries at
    deadlines hours away) would otherwise run before this test's own."""
    from celery.contrib.testing.worker import start_worker

    app.control.purge()
    with start_worker(app, perform_ping_check=False, pool="solo", loglevel="WARNING"):
        yield


@contextmanager
def webhook_receiver(settings, secret: str = "shared-secret-for-this-test"):  # noqa: S107
    """A local HTTP endpoint as the monitoring webhook sink, answering 204 to
    every POST; yields the list of (headers, body) it received."""
    received: list[tuple[dict, bytes]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.MONITORING_SINK = "webhook"
    settings.MONITORING_WEBHOOK_URL = f"http://127.0.0.1:{server.server_port}/events"
    settings.MONITORING_WEBHOOK_SECRET = secret
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()
