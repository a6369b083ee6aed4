"""Prometheus metrics through ``prometheus_client``.

Two kinds of figures:

- What each process observes as it works (request latency, Celery task
  durations and failures, sweep durations): counters and histograms defined
  here. Under gunicorn and Celery (production settings) every process writes
  them to files in ``PROMETHEUS_MULTIPROC_DIR`` and a scrape adds up the
  files of every process on the host; without it (``make run``) they live in
  the one process that serves /metrics.
- What the database and the shared cache say at scrape time (cases, queue,
  outbox, alerts, audit chain verdict, beat heartbeat): ``ConsoleCollector``,
  four aggregate queries and two cache reads per scrape.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, DurationField, ExpressionWrapper, F, Min, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from recovery_console.models import Alert, Notice, RecoveryCase, Tier
from recovery_console.tasks import BEAT_HEARTBEAT_KEY

AUDIT_CHAIN_KEY = "ops:audit-chain-verdict"
UNRESOLVED_VIEW = "unresolved"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUEST_SECONDS = Histogram(
    "recovery_http_request_duration_seconds",
    "Time to answer a request, by view name (never the path), method and status class.",
    ["view", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
TASK_SECONDS = Histogram(
    "recovery_celery_task_duration_seconds",
    "Time a Celery task ran in a worker (whatever its outcome), by task.",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
TASK_FAILURES = Counter(
    "recovery_celery_task_failures",
    "Celery tasks that raised (retries excluded), by task.",
    ["task"],
)
SWEEP_SECONDS = Histogram(
    "recovery_sweep_duration_seconds",
    "Time a periodic sweep (a task on beat's schedule) ran, by task.",
    ["sweep"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
# Opening to verified: a window over the database, so bucket counts go down
# as cases leave the window (read them with histogram_quantile, not rate).
TIME_TO_VERIFY_BUCKETS = (60, 300, 900, 1800, 3600, 4 * 3600, 8 * 3600, 86400, 3 * 86400,
                          7 * 86400)


class RequestMetricsMiddleware:
    """Times every request the console answers, labelled by the view the URL
    resolved to, so that ids and tokens in paths never become labels."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        REQUEST_SECONDS.labels(
            match.view_name if match else UNRESOLVED_VIEW,
            request.method if request.method in METHODS else "other",
            f"{response.status_code // 100}xx",
        ).observe(time.perf_counter() - started)
        return response


class ConsoleCollector(Collector):
    """The figures read from the database and the shared cache when scraped."""

    def collect(self) -> Iterator[Metric]:
        yield from _cases()
        yield _time_to_verify()
        yield from _outbox()
        yield _alerts()
        yield from _audit_chain()
        yield _beat()


def scrape_registry() -> CollectorRegistry:
    """What /metrics renders: this host's process figures plus the console's."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ConsoleCollector())
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        MultiProcessCollector(registry, path=path)
    else:
        registry.register(REGISTRY)
    return registry


def render(accept: str) -> tuple[bytes, str]:
    """The exposition for a scraper's Accept header, and its content type."""
    encoder, content_type = choose_encoder(accept)
    return encoder(scrape_registry()), content_type


def _cases() -> Iterator[Metric]:
    rows = (RecoveryCase.objects.order_by().values("state", "tier")
            .annotate(n=Count("pk"), unclaimed=Count("pk", filter=Q(agent=None))))
    by_state: dict[str, int] = {}
    depth: dict[str, int] = {}
    unclaimed: dict[str, int] = {}
    for row in rows:
        by_state[row["state"]] = by_state.get(row["state"], 0) + row["n"]
        if row["state"] in RecoveryCase.OPEN_STATES:
            depth[row["tier"]] = depth.get(row["tier"], 0) + row["n"]
            unclaimed[row["tier"]] = unclaimed.get(row["tier"], 0) + row["unclaimed"]
    cases = GaugeMetricFamily("recovery_cases", "Recovery cases by state.", labels=["state"])
    for state in RecoveryCase.State.values:
        cases.add_metric([state], by_state.get(state, 0))
    queue = GaugeMetricFamily("recovery_queue_depth",
                              "Open recovery cases (the queue) by risk tier.", labels=["tier"])
    waiting = GaugeMetricFamily("recovery_queue_unclaimed",
                                "Open cases no agent has claimed, by tier.", labels=["tier"])
    for tier in Tier.values:
        queue.add_metric([tier], depth.get(tier, 0))
        waiting.add_metric([tier], unclaimed.get(tier, 0))
    yield from (cases, queue, waiting)


def _time_to_verify() -> Metric:
    window = timedelta(seconds=settings.METRICS_TIME_TO_VERIFY_WINDOW_SECONDS)
    took = ExpressionWrapper(F("verified_at") - F("opened_at"), output_field=DurationField())
    figures = (RecoveryCase.objects.filter(verified_at__gte=timezone.now() - window)
               .annotate(took=took).aggregate(
                   total=Sum("took"), n=Count("pk"),
                   **{f"le_{s}": Count("pk", filter=Q(took__lte=timedelta(seconds=s)))
                      for s in TIME_TO_VERIFY_BUCKETS}))
    buckets = [(str(float(s)), figures[f"le_{s}"]) for s in TIME_TO_VERIFY_BUCKETS]
    return HistogramMetricFamily(
        "recovery_time_to_verify_seconds",
        f"From opening to verified, over cases verified in the last {window.days} days.",
        buckets=[*buckets, ("+Inf", figures["n"])],
        sum_value=(figures["total"] or timedelta()).total_seconds())


def _outbox() -> Iterator[Metric]:
    """The outbox is the Notice table: each row written in the transaction of
    the decision that owes it, delivered by a worker, retried with backoff."""
    now = timezone.now()
    owed = Q(sent_at=None, failed_at=None)
    rows = {row["medium"]: row for row in Notice.objects.order_by().values("medium").annotate(
        pending=Count("pk", filter=owed),
        due=Count("pk", filter=owed & Q(next_attempt_at__lte=now)),
        failed=Count("pk", filter=Q(failed_at__isnull=False)),
        oldest=Min("created_at", filter=owed))}

    def age(oldest: datetime | None) -> float:
        return round((now - oldest).total_seconds(), 3) if oldest else 0

    oldest = min((r["oldest"] for r in rows.values() if r["oldest"]), default=None)
    yield GaugeMetricFamily("recovery_notices_pending", "Notices owed and not yet delivered.",
                            value=sum(r["pending"] for r in rows.values()))
    yield GaugeMetricFamily("recovery_notices_failed", "Notices given up on after every retry.",
                            value=sum(r["failed"] for r in rows.values()))
    yield GaugeMetricFamily("recovery_notices_oldest_pending_age_seconds",
                            "Age of the oldest undelivered notice (0 when none).",
                            value=age(oldest))
    depth = GaugeMetricFamily("recovery_outbox_depth",
                              "Notices owed and not yet delivered, by medium.", labels=["medium"])
    due = GaugeMetricFamily("recovery_outbox_due",
                            "Undelivered notices due now (not waiting for a retry's backoff), "
                            "by medium.", labels=["medium"])
    oldest_age = GaugeMetricFamily("recovery_outbox_oldest_age_seconds",
                                   "Age of the oldest undelivered notice by medium (0 when none).",
                                   labels=["medium"])
    for medium in Notice.Medium.values:
        row = rows.get(medium, {})
        depth.add_metric([medium], row.get("pending", 0))
        due.add_metric([medium], row.get("due", 0))
        oldest_age.add_metric([medium], age(row.get("oldest")))
    yield from (depth, due, oldest_age)


def _alerts() -> Metric:
    open_by_kind = dict(Alert.objects.order_by().filter(acknowledged_at=None)
                        .values_list("kind").annotate(n=Count("pk")))
    family = GaugeMetricFamily(
        "recovery_alerts_open",
        "Watch-period alerts no security admin has acknowledged yet, by kind.", labels=["kind"])
    for kind in Alert.Kind.values:
        family.add_metric([kind], open_by_kind.get(kind, 0))
    return family


def _audit_chain() -> Iterator[Metric]:
    """The worker that verified the chain left its verdict in the shared
    cache, which every web process reads (the same Redis on every host)."""
    verdict = cache.get(AUDIT_CHAIN_KEY)
    intact = GaugeMetricFamily(
        "recovery_audit_chain_intact",
        "1 if the last scheduled audit chain verification found it intact, 0 if broken "
        "(absent until the first run).")
    at = GaugeMetricFamily("recovery_audit_chain_last_verified_timestamp_seconds",
                           "When the audit chain was last verified (Unix time).")
    if verdict:
        intact.add_metric([], 1 if verdict["intact"] else 0)
        at.add_metric([], datetime.fromisoformat(verdict["at"]).timestamp())
    yield from (intact, at)


def _beat() -> Metric:
    stamp = cache.get(BEAT_HEARTBEAT_KEY)
    family = GaugeMetricFamily("recovery_beat_heartbeat_age_seconds",
                               "Seconds since beat's heartbeat task last ran (absent if never).")
    if stamp:
        family.add_metric(
            [], round((timezone.now() - datetime.fromisoformat(stamp)).total_seconds(), 3))
    return family
