"""Prometheus metrics in the text exposition format, computed when scraped.

Database figures take four aggregate queries; Celery task failures and the
audit chain's last verdict are read from the cache, where the Celery signal
handlers in ``celery_signals`` keep them."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Min, Q
from django.utils import timezone

from recovery_console.models import Alert, Notice, RecoveryCase, Tier
from recovery_console.tasks import BEAT_HEARTBEAT_KEY

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
TASK_FAILURES_KEY = "ops:celery-task-failures:"
TASK_FAILURE_NAMES_KEY = "ops:celery-task-failure-names"
AUDIT_CHAIN_KEY = "ops:audit-chain-verdict"
QUANTILES = (0.5, 0.9, 0.99)


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


class Exposition:
    """Collects metric families and renders them as text."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str,
               samples: Iterable[tuple[dict[str, str], float]]) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            self.sample(name, labels, value)

    def sample(self, name: str, labels: dict[str, str], value: float) -> None:
        self.lines.append(f"{name}{_labels(labels)} {_number(value)}")

    def render(self) -> str:
        return "\n".join(self.lines) + "\n"


def _number(value: float) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def quantile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank quantile; NaN for no values (as Prometheus summaries do)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def render() -> str:
    out = Exposition()
    _cases(out)
    _time_to_verify(out)
    _notices(out)
    _alerts(out)
    _audit_chain(out)
    _celery(out)
    return out.render()


def _cases(out: Exposition) -> None:
    by_state = dict(RecoveryCase.objects.order_by().values_list("state")
                    .annotate(n=Count("pk")))
    out.family("recovery_cases", "gauge", "Recovery cases by state.",
               (({"state": s}, by_state.get(s, 0)) for s in RecoveryCase.State.values))
    open_by_tier = {row["tier"]: row for row in RecoveryCase.objects.order_by()
                    .filter(state__in=RecoveryCase.OPEN_STATES).values("tier")
                    .annotate(n=Count("pk"), unclaimed=Count("pk", filter=Q(agent=None)))}
    out.family("recovery_queue_depth", "gauge", "Open recovery cases (the queue) by risk tier.",
               (({"tier": t}, open_by_tier.get(t, {}).get("n", 0)) for t in Tier.values))
    out.family("recovery_queue_unclaimed", "gauge", "Open cases no agent has claimed, by tier.",
               (({"tier": t}, open_by_tier.get(t, {}).get("unclaimed", 0)) for t in Tier.values))


def _time_to_verify(out: Exposition) -> None:
    window = timedelta(seconds=settings.METRICS_TIME_TO_VERIFY_WINDOW_SECONDS)
    rows = RecoveryCase.objects.filter(verified_at__gte=timezone.now() - window) \
        .values_list("opened_at", "verified_at")
    durations = sorted((verified - opened).total_seconds() for opened, verified in rows)
    name = "recovery_time_to_verify_seconds"
    out.family(name, "summary",
               f"From opening to verified, over cases verified in the last {window.days} days.",
               (({"quantile": str(q)}, quantile(durations, q)) for q in QUANTILES))
    out.sample(f"{name}_sum", {}, round(sum(durations), 3))
    out.sample(f"{name}_count", {}, len(durations))


def _notices(out: Exposition) -> None:
    figures = Notice.objects.aggregate(
        pending=Count("pk", filter=Q(sent_at=None, failed_at=None)),
        failed=Count("pk", filter=Q(failed_at__isnull=False)),
        oldest=Min("created_at", filter=Q(sent_at=None, failed_at=None)),
    )
    out.family("recovery_notices_pending", "gauge", "Notices owed and not yet delivered.",
               [({}, figures["pending"])])
    out.family("recovery_notices_failed", "gauge", "Notices given up on after every retry.",
               [({}, figures["failed"])])
    oldest = figures["oldest"]
    age = (timezone.now() - oldest).total_seconds() if oldest else 0
    out.family("recovery_notices_oldest_pending_age_seconds", "gauge",
               "Age of the oldest undelivered notice (0 when none).", [({}, round(age, 3))])


def _alerts(out: Exposition) -> None:
    open_by_kind = dict(Alert.objects.order_by().filter(acknowledged_at=None)
                        .values_list("kind").annotate(n=Count("pk")))
    out.family("recovery_alerts_open", "gauge",
               "Watch-period alerts no security admin has acknowledged yet, by kind.",
               (({"kind": k}, open_by_kind.get(k, 0)) for k in Alert.Kind.values))


def _audit_chain(out: Exposition) -> None:
    verdict = cache.get(AUDIT_CHAIN_KEY)
    samples = [({}, 1 if verdict["intact"] else 0)] if verdict else []
    out.family("recovery_audit_chain_intact", "gauge",
               "1 if the last scheduled audit chain verification found it intact, 0 if broken "
               "(absent until the first run).", samples)
    at = [({}, round(datetime.fromisoformat(verdict["at"]).timestamp(), 3))] if verdict else []
    out.family("recovery_audit_chain_last_verified_timestamp_seconds", "gauge",
               "When the audit chain was last verified (Unix time).", at)


def _celery(out: Exposition) -> None:
    names = sorted(cache.get(TASK_FAILURE_NAMES_KEY) or ())
    counts = cache.get_many([TASK_FAILURES_KEY + n for n in names])
    out.family("recovery_celery_task_failures_total", "counter",
               "Celery tasks that raised (retries excluded), by task, since the cache was "
               "last cleared.",
               (({"task": n}, counts.get(TASK_FAILURES_KEY + n, 0)) for n in names))
    stamp = cache.get(BEAT_HEARTBEAT_KEY)
    age = [({}, round((timezone.now() - datetime.fromisoformat(stamp)).total_seconds(), 3))] \
        if stamp else []
    out.family("recovery_beat_heartbeat_age_seconds", "gauge",
               "Seconds since beat's heartbeat task last ran (absent if never).", age)
