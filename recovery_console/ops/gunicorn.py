"""gunicorn settings (``gunicorn -c python:recovery_console.ops.gunicorn``).

No access log: the request-id middleware writes one JSON line per request
with secret-bearing paths redacted, which gunicorn's access log would not.

Metrics: the workers write theirs to ``PROMETHEUS_MULTIPROC_DIR`` (default
``$VAR_DIR/prometheus``, as in production settings, so that the Celery
workers of the same host share it); whichever worker answers a scrape adds up
the files of all. When gunicorn starts, the files of processes that are no
longer running are removed; those of a Celery worker still running on this
host stay, since it keeps writing to them."""

import os
from pathlib import Path

from recovery_console.ops.metrics_folder import start_afresh

_var_dir = Path(os.environ.get("VAR_DIR", Path(__file__).resolve().parents[2] / "var"))
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(_var_dir / "prometheus"))

bind = f"{os.environ.get('BIND_ADDRESS', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "1"))
timeout = int(os.environ.get("WEB_TIMEOUT_SECONDS", "30"))
graceful_timeout = timeout
# Each worker is replaced after about 2000 requests (any slow leak stays bounded);
# 0 never replaces one (make bench: see BENCHMARKS.md, "How it is measured").
max_requests = int(os.environ.get("WEB_MAX_REQUESTS", "2000"))
max_requests_jitter = 200
accesslog = None
# The runtime control socket would be one path per user, shared by every
# gunicorn on the machine; processes are managed by honcho or the platform.
control_socket_disable = True
# The proxies whose X-Forwarded-* headers gunicorn believes (comma-separated addresses).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "recovery_console.ops.logs.ContextFilter"}},
    "formatters": {"json": {"()": "recovery_console.ops.logs.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json",
                             "filters": ["context"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
    },
}


def on_starting(server) -> None:
    start_afresh(os.environ["PROMETHEUS_MULTIPROC_DIR"])


def child_exit(server, worker) -> None:
    # Imported here, not above the folder's setting: the client picks its mode
    # once, when first imported, and the workers inherit this process's modules.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_fork(server, worker):
    """Each worker traces on its own (when an OTLP endpoint is set): started
    after the fork, so no batch thread or exporter connection is shared, and
    before the worker loads the application, so Django's middleware has the
    tracing middleware."""
    from recovery_console.ops import tracing

    tracing.start()


def worker_exit(server, worker):
    """Spans still queued in the worker are exported before it exits."""
    from recovery_console.ops import tracing

    tracing.shutdown()
