"""In-process measurements on a benchmark database (bench settings):
query counts and single-request server time of each page, the stratified
sample, the CSV export, the expiry sweep and the audit chain verification.

    DJANGO_SETTINGS_MODULE=bench.settings python -m bench.measure PART [ARG...]

prints one JSON object."""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time
import tracemalloc
from datetime import date, timedelta

import django


def _ms(samples: list[float]) -> dict:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"median_ms": round(statistics.median(ordered) * 1000, 2),
            "p95_ms": round(pick(0.95) * 1000, 2), "p99_ms": round(pick(0.99) * 1000, 2)}


def _client(cookie: str):
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1", HTTP_COOKIE=cookie)
    return client


def pages(runs: int = 30) -> dict:
    """Server time (in process: no network, no gunicorn) and query count per page."""
    import tempfile
    from pathlib import Path

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from .prepare import PAGE_ROLES, page_requests, signed_in_cookie, staff_user

    folder = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    files = page_requests(folder)
    result = {}
    for page, path in files.items():
        role = PAGE_ROLES[page]
        client = _client(signed_in_cookie(staff_user(role) if role else None))
        paths = [line.split("\t")[1] for line in path.read_text().splitlines()]
        client.get(paths[0], secure=True)  # warm
        times, queries = [], []
        for i in range(runs):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(paths[i % len(paths)], secure=True)
                times.append(time.perf_counter() - started)
            assert response.status_code == 200, (page, response.status_code)
            queries.append(len(captured.captured_queries))
        result[page] = {**_ms(times), "queries_min": min(queries), "queries_max": max(queries)}
    return result


def action_queries(runs: int = 5) -> dict:
    """SQL statements one request of each action sends (in process, Django's
    count: a COPY, which writes the chain links of a transaction of more than 100
    audit entries, is not in it)."""
    import tempfile
    from pathlib import Path

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from .prepare import main as prepare_main

    result = {}
    for action in ("evidence", "approval", "redeem"):
        folder = Path(tempfile.mkdtemp(prefix=f"bench-{action}-"))
        spec = prepare_main([action, str(folder), str(runs)])
        client = _client(spec["cookie"])
        counts = []
        for line in Path(spec["file"]).read_text().splitlines()[:runs]:
            method, path, body = line.split("\t")
            with CaptureQueriesContext(connection) as captured:
                response = client.post(path, body, secure=True,
                                       content_type="application/x-www-form-urlencoded")
            assert response.status_code in (200, 302), (action, response.status_code)
            counts.append(len(captured.captured_queries))
        result[action] = {"queries_min": min(counts), "queries_max": max(counts)}
    return result


def sample(size: int = 500, runs: int = 3) -> dict:
    """draw_sample over the last year, stratified by tier and identity kind."""
    from accounts.roles import Role
    from audit.sampling import SampleRequest, draw_sample

    from .prepare import staff_user

    auditor = staff_user(Role.AUDITOR)
    today = date.today()
    times = []
    for seed in range(runs):
        started = time.perf_counter()
        report = draw_sample(auditor, SampleRequest(
            title=f"Bench {seed}", period_start=today - timedelta(days=365), period_end=today,
            sample_size=size, strata=("tier", "kind"), seed=seed, include_open=True))
        times.append(time.perf_counter() - started)
    return {**_ms(times), "population": report.population, "sampled": report.sampled.count()}


def csv_export(size: int = 10_000) -> dict:
    """A report of ``size`` sampled cases (or every case when fewer), streamed
    as CSV through the view; time and Python peak memory while streaming."""
    from accounts.roles import Role
    from audit.sampling import SampleRequest, cases_opened_between, draw_sample

    from .prepare import signed_in_cookie, staff_user

    auditor = staff_user(Role.AUDITOR)
    today = date.today()
    start = today - timedelta(days=800)
    population = cases_opened_between(start, today).count()
    report = draw_sample(auditor, SampleRequest(
        title="Bench export", period_start=start, period_end=today,
        sample_size=min(size, population), seed=1, include_open=True))
    client = _client(signed_in_cookie(auditor))
    for _ in client.get(f"/audit/reports/{report.pk}/export.csv",  # warm the process
                        secure=True).streaming_content:
        pass
    started = time.perf_counter()
    for _ in client.get(f"/audit/reports/{report.pk}/export.csv",
                        secure=True).streaming_content:
        pass
    untraced = time.perf_counter() - started
    tracemalloc.start()
    started = time.perf_counter()
    response = client.get(f"/audit/reports/{report.pk}/export.csv", secure=True)
    assert response.status_code == 200 and response.streaming
    size_bytes = rows = 0
    for chunk in response.streaming_content:
        size_bytes += len(chunk)
        rows += 1
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"cases": rows - 1, "seconds": round(untraced, 3),
            "seconds_traced": round(elapsed, 3), "bytes": size_bytes,
            "python_peak_mib": round(peak / 2**20, 2)}


def sweep(count: int) -> dict:
    """The expiry sweep over ``count`` cases whose credential just ran out, as
    the minute task runs it (``SWEEP_WORKERS`` threads)."""
    from django.conf import settings

    from recovery_console import workflow

    from .prepare import due_credentials

    due_credentials(count)
    started = time.perf_counter()
    expired = workflow.expire_due(workers=settings.SWEEP_WORKERS)
    elapsed = time.perf_counter() - started
    return {"due": count, "expired": expired, "seconds": round(elapsed, 3),
            "workers": settings.SWEEP_WORKERS}


def chain() -> dict:
    """verify_audit_chain's walk (run alone in this process: max RSS is its own)."""
    from audit import chain as audit_chain

    started = time.perf_counter()
    verdict = audit_chain.verify()
    elapsed = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"entries": verdict.checked, "intact": verdict.intact, "seconds": round(elapsed, 2),
            "max_rss_mib": round(rss, 1)}


def counts() -> dict:
    from auditlog.models import LogEntry

    from accounts.models import Identity
    from recovery_console.models import Evidence, Notice, RecoveryCase

    return {"identities": Identity.objects.count(), "cases": RecoveryCase.objects.count(),
            "open_cases": RecoveryCase.objects.filter(
                state__in=RecoveryCase.OPEN_STATES).count(),
            "awaiting_approval": RecoveryCase.objects.filter(state="awaiting_approval").count(),
            "evidence": Evidence.objects.count(), "notices": Notice.objects.count(),
            "audit_entries": LogEntry.objects.count()}


def prepare(*args: str) -> dict:
    from .prepare import main

    return main([str(a) for a in args])


if __name__ == "__main__":
    django.setup()
    part, *args = sys.argv[1:]
    print(json.dumps(globals()[part](*(int(a) if a.isdigit() else a for a in args))))
