"""Celery signal handlers, imported by every worker and beat (CELERY_IMPORTS).

- Logging is left to Django's LOGGING (JSON lines), not reconfigured by Celery;
  warnings are logged.
- Each log line of a task carries the task id as its request id.
- Task failures are counted in the cache for the metrics page.
- The audit chain's daily verdict is kept in the cache for the metrics page.
- Beat sends a heartbeat as soon as it starts, so readiness turns green
  without waiting a whole schedule interval.
"""

from __future__ import annotations

import contextvars
import logging

from celery import signals
from django.core.cache import cache
from django.utils import timezone

from .logs import correlation_id_var, request_id_var
from .metrics import AUDIT_CHAIN_KEY, TASK_FAILURE_NAMES_KEY, TASK_FAILURES_KEY

AUDIT_VERIFY_TASK = "audit.tasks.verify_audit_chain"
_task_tokens: dict[str, tuple[contextvars.Token, contextvars.Token]] = {}


@signals.setup_logging.connect
def keep_django_logging(**kwargs) -> None:
    """Connected, so Celery leaves the root logger as Django's LOGGING set it.
    Python's warnings (Celery's own among them) become log lines too, so the
    worker's standard error holds nothing but JSON lines."""
    logging.captureWarnings(True)


@signals.task_prerun.connect
def stamp_task_logs(task_id=None, task=None, **kwargs) -> None:
    _task_tokens[task_id] = (request_id_var.set(f"task-{task_id}"),
                             correlation_id_var.set(None))


@signals.task_postrun.connect
def unstamp_task_logs(task_id=None, task=None, retval=None, state=None, **kwargs) -> None:
    tokens = _task_tokens.pop(task_id, None)
    if tokens:
        correlation_id_var.reset(tokens[1])
        request_id_var.reset(tokens[0])
    if task is not None and task.name == AUDIT_VERIFY_TASK and state == "SUCCESS":
        remember_audit_verdict(str(retval))


def remember_audit_verdict(summary: str) -> None:
    """``audit.tasks.verify_audit_chain`` returns "intact: ..." or "broken: ..."."""
    cache.set(AUDIT_CHAIN_KEY, {"intact": summary.startswith("intact"),
                                "at": timezone.now().isoformat()}, timeout=None)


@signals.task_failure.connect
def count_task_failure(sender=None, **kwargs) -> None:
    name = getattr(sender, "name", None) or "unknown"
    key = TASK_FAILURES_KEY + name
    cache.add(key, 0, timeout=None)
    try:
        cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=None)
    names = cache.get(TASK_FAILURE_NAMES_KEY) or set()
    if name not in names:
        cache.set(TASK_FAILURE_NAMES_KEY, names | {name}, timeout=None)


@signals.beat_init.connect
def heartbeat_on_start(sender=None, **kwargs) -> None:
    from recovery_console.tasks import record_beat_heartbeat

    record_beat_heartbeat.delay()
