"""Celery signal handlers, imported by every worker and beat (CELERY_IMPORTS).

- Logging is left to Django's LOGGING (JSON lines), not reconfigured by Celery;
  warnings are logged.
- Each log line of a task carries the task id as its request id.
- Task durations and failures, and the sweeps' durations, go to the
  Prometheus metrics of the worker process (``ops.metrics``).
- The audit chain's daily verdict is kept in the cache for the metrics page.
- Beat sends a heartbeat as soon as it starts, so readiness turns green
  without waiting a whole schedule interval.
"""

from __future__ import annotations

import contextvars
import logging
import os
import time

from celery import signals
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from prometheus_client import CollectorRegistry, multiprocess, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

from . import metrics, metrics_folder
from .logs import correlation_id_var, request_id_var
from .metrics import AUDIT_CHAIN_KEY

AUDIT_VERIFY_TASK = "audit.tasks.verify_audit_chain"
log = logging.getLogger(__name__)
# What a running task's prerun left for its postrun: the log ids to reset, its start.
_running: dict[str, tuple[contextvars.Token, contextvars.Token, float]] = {}


@signals.setup_logging.connect
def keep_django_logging(**kwargs) -> None:
    """Connected, so Celery leaves the root logger as Django's LOGGING set it.
    Python's warnings (Celery's own among them) become log lines too, so the
    worker's standard error holds nothing but JSON lines."""
    logging.captureWarnings(True)


@signals.task_prerun.connect
def task_started(task_id=None, task=None, **kwargs) -> None:
    """The task's log lines carry its id; its clock starts."""
    _running[task_id] = (request_id_var.set(f"task-{task_id}"),
                         correlation_id_var.set(None), time.perf_counter())


@signals.task_postrun.connect
def task_ended(task_id=None, task=None, retval=None, state=None, **kwargs) -> None:
    """Its duration observed (and a sweep's), its log ids reset, the audit
    chain's verdict kept."""
    started = _running.pop(task_id, None)
    if started:
        request_token, correlation_token, clock = started
        if task is not None:
            seconds = time.perf_counter() - clock
            metrics.TASK_SECONDS.labels(task.name).observe(seconds)
            if task.name in _sweeps():
                metrics.SWEEP_SECONDS.labels(task.name).observe(seconds)
        correlation_id_var.reset(correlation_token)
        request_id_var.reset(request_token)
    if task is not None and task.name == AUDIT_VERIFY_TASK and state == "SUCCESS":
        remember_audit_verdict(str(retval))


def remember_audit_verdict(summary: str) -> None:
    """``audit.tasks.verify_audit_chain`` returns "intact: ..." or "broken: ..."."""
    cache.set(AUDIT_CHAIN_KEY, {"intact": summary.startswith("intact"),
                                "at": timezone.now().isoformat()}, timeout=None)


def _sweeps() -> set[str]:
    return {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}


@signals.task_failure.connect
def count_task_failure(sender=None, **kwargs) -> None:
    metrics.TASK_FAILURES.labels(getattr(sender, "name", None) or "unknown").inc()


@signals.worker_init.connect
def serve_worker_metrics(**kwargs) -> None:
    """On a host with Celery workers and no gunicorn (``WORKER_METRICS_PORT``),
    the worker's main process serves the metrics its pool's processes write."""
    port, folder = settings.WORKER_METRICS_PORT, os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not port:
        return
    if not folder:
        log.warning("WORKER_METRICS_PORT is set but PROMETHEUS_MULTIPROC_DIR is not: "
                    "the worker serves no metrics")
        return
    metrics_folder.start_afresh(folder)
    registry = CollectorRegistry(auto_describe=False)
    MultiProcessCollector(registry, path=folder)
    try:
        start_http_server(port, addr=settings.WORKER_METRICS_ADDRESS, registry=registry)
    except OSError as taken:  # another worker of this host serves the same folder
        log.info("worker metrics not served by this worker (%s): the port's owner serves "
                 "the folder all of them write to", taken.strerror)
        return
    log.info("serving the worker's metrics on %s:%s", settings.WORKER_METRICS_ADDRESS, port)


@signals.worker_process_shutdown.connect
def forget_live_figures(**kwargs) -> None:
    """A prefork child leaving: its counters stay in the folder (they still
    count), its live gauges, if any were ever added, must not."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(os.getpid())


@signals.beat_init.connect
def heartbeat_on_start(sender=None, **kwargs) -> None:
    from recovery_console.tasks import record_beat_heartbeat

    record_beat_heartbeat.delay()
