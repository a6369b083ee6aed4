"""Readiness checks: each answers (ok, detail) quickly and never raises.

Details name what failed and how (an exception's class), never a URL or a
password: the readiness page needs no sign-in."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from recovery_console.tasks import BEAT_HEARTBEAT_KEY

log = logging.getLogger(__name__)
CACHE_PROBE_KEY = "readyz-probe"


@dataclass
class Result:
    ok: bool
    detail: str = ""
    ms: float = 0.0

    def as_dict(self) -> dict:
        answer = {"ok": self.ok, "ms": self.ms}
        if self.detail:
            answer["detail"] = self.detail
        return answer


def database() -> Result:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return Result(True)


_migrations_applied = False


def migrations() -> Result:
    """No migration left to apply. Once true, a process remembers it: the
    code (and so the migration files) of a running process never changes."""
    global _migrations_applied
    if _migrations_applied:
        return Result(True)
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        return Result(False, f"{len(plan)} migrations not applied")
    _migrations_applied = True
    return Result(True)


def shared_cache() -> Result:
    cache.set(CACHE_PROBE_KEY, "1", timeout=30)
    if cache.get(CACHE_PROBE_KEY) is None:
        return Result(False, "the cache lost a value it was just given")
    return Result(True)


def broker() -> Result:
    from kombu import Connection

    timeout = settings.READYZ_TIMEOUT_SECONDS
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=timeout,
                    transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0,
                               timeout=timeout)
    return Result(True)


def beat_heartbeat() -> Result:
    """Beat sends the heartbeat task every minute and a worker records it:
    a recent one proves beat, the broker and a worker all work."""
    stamp = cache.get(BEAT_HEARTBEAT_KEY)
    if stamp is None:
        return Result(False, "no heartbeat recorded")
    age = (timezone.now() - datetime.fromisoformat(stamp)).total_seconds()
    limit = settings.BEAT_HEARTBEAT_MAX_AGE_SECONDS
    if age > limit:
        return Result(False, f"last heartbeat {age:.0f}s ago (limit {limit}s)")
    return Result(True, f"last heartbeat {age:.0f}s ago")


def run(name: str, check: Callable[[], Result]) -> Result:
    started = time.monotonic()
    try:
        result = check()
    except Exception as exc:  # a probe reports every failure, whatever its kind
        log.warning("readiness check %s failed: %s: %s", name, type(exc).__name__, exc)
        result = Result(False, f"{type(exc).__name__}")
    result.ms = round((time.monotonic() - started) * 1000, 1)
    return result


def readiness() -> tuple[bool, dict[str, Result]]:
    """Run every check (the database ones are skipped when the database is down)."""
    results = {"database": run("database", database)}
    if results["database"].ok:
        results["migrations"] = run("migrations", migrations)
    else:
        results["migrations"] = Result(False, "database unreachable")
    for name, check in (("cache", shared_cache), ("broker", broker), ("beat", beat_heartbeat)):
        results[name] = run(name, check)
    return all(r.ok for r in results.values()), results
