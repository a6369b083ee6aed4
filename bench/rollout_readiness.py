"""Readiness reports at scale: an organisation of N
identities (default 100,000) with their own accounts, passkeys (most used,
some never, some revoked) and recovery channels (some revoked), a directory
group of W members (default 20,000) rolled out as one wave, a week of
recovery cases opened by that wave's members, and twelve weeks of daily
snapshots. Then, each timed and its queries counted (median of 3 runs):
the organisation's report, the wave's cohort report, the first page of
privileged people not ready, the readiness page and one CSV through the
test client as an auditor, the wave's progress, the auditor's dashboard,
and a day's snapshots.

    DATABASE_URL=postgres://.../wt_reports19_bench python -m bench.rollout_readiness [N] [W]

Writes with COPY into a fresh migrated database; run again on the same
database, it measures what the first run built. Prints one JSON object, also written to
var/bench-rollout-readiness-<N>-jit-<on|off>.json. BENCH_JIT=off measures
with PostgreSQL's JIT compilation off (see BENCHMARKS.md).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GROUP = "Rollout wave 1"


def build(identities: int, wave_size: int, now) -> dict:
    """The organisation, written in one transaction; returns what was made."""
    import random

    from django.db import connection, transaction

    from accounts.identifiers import canonical
    from accounts.models import PasskeyCredential, RecoveryChannel, User
    from recovery_console.directory.models import GroupMembership
    from recovery_console.management.commands.generate_bench_data import PREFIX, BenchData
    from recovery_console.rollout.models import Cohort, ReadinessSnapshot, RolloutPlan, Wave

    rng = random.Random(19)  # noqa: S311  # nosec B311 - data, not secrets
    with transaction.atomic():
        data = BenchData(seed=19, now=now)
        staff = data.staff(identities)
        made = data.make_identities(identities)
        # Each identity its own account (COPY: ids follow the identities').
        first_user = data.out.next_id(User)
        offset = first_user - made[0]["id"]
        data.out._next[User] = first_user + len(made) - 1
        data.out.copy(User, [{"id": row["id"] + offset, "username": f"{row['directory_id']}",
                              "password": "!", "is_active": True, "date_joined": now}
                             for row in made])
        with connection.cursor() as cursor:
            cursor.execute("UPDATE accounts_identity SET user_id = id + %s "
                           "WHERE directory_id LIKE %s", [offset, f"{PREFIX}%"])
        passkeys, revoked_channels = [], []
        for row in made:
            roll = rng.random()
            if roll < 0.62:  # a passkey: used lately, long ago, or never
                used = None if rng.random() < 0.1 else now - timedelta(
                    days=rng.expovariate(1 / 25))
                passkeys.append({
                    "id": data.out.next_id(PasskeyCredential), "user_id": row["id"] + offset,
                    "name": "Laptop", "confirmed": True, "credential_id": f"bench-{row['id']}",
                    "public_key": b"k", "transports": ["internal"], "created_at": now
                    - timedelta(days=200), "last_used_at": used,
                    "revoked_at": now - timedelta(days=3) if rng.random() < 0.03 else None})
            if rng.random() < 0.12:  # no usable channel left
                revoked_channels.extend(c["id"] for c in data.channels[row["id"]])
        data.out.copy(PasskeyCredential, passkeys)
        RecoveryChannel.objects.filter(pk__in=revoked_channels).update(revoked_at=now)
        wave_members = rng.sample(made, wave_size)
        data.out.copy(GroupMembership, [
            {"id": data.out.next_id(GroupMembership), "identity_id": row["id"], "name": GROUP,
             "key": canonical(GROUP)} for row in wave_members])
        # A week of recovery cases by the wave's members (closed: one open each at most).
        for day in range(7):
            for person in rng.sample(wave_members, 40 + 5 * day):
                opened = now - timedelta(days=day, minutes=rng.uniform(0, 600))
                data.case(person, data.tier_of(person, rng), "completed", opened)
        data.finish()
        data.out.reset_sequences()
        cohorts = [Cohort.objects.create(name=GROUP, directory_group=GROUP),
                   Cohort.objects.create(name="Finance", department="Finance"),
                   Cohort.objects.create(name="Privileged", privileged=Cohort.Privileged.YES),
                   Cohort.objects.create(name="Contractors", kind="contractor")]
        plan = RolloutPlan.objects.create(name="Bench rollout", daily_case_limit=60)
        wave = Wave.objects.create(plan=plan, cohort=cohorts[0], position=1,
                                   stage=Wave.Stage.INVITE)
        today = now.date()
        ReadinessSnapshot.objects.bulk_create(
            ReadinessSnapshot(day=today - timedelta(days=d), cohort=cohort,
                              members=identities, with_passkey=identities // 2,
                              with_channel=identities * 8 // 10, ready=identities // 2,
                              with_nothing=identities // 10, privileged=identities // 30,
                              privileged_ready=identities // 60)
            for d in range(1, 84) for cohort in [None, *cohorts])
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return {"wave": wave, "cohort": cohorts[0], "auditor": staff["auditor"][0],
            "counts": dict(data.out.counts)}


def existing() -> dict | None:
    """What an earlier run built here, to measure again without building."""
    from accounts.models import User
    from recovery_console.rollout.models import Wave

    wave = Wave.objects.select_related("cohort").filter(cohort__name=GROUP).first()
    if wave is None:
        return None
    return {"wave": wave, "cohort": wave.cohort, "counts": "built before",
            "auditor": User.objects.filter(username__startswith="bench-auditor-")
            .order_by("username").first()}


def measure(label: str, work, runs: int = 3) -> dict:
    """Median wall time (ms) and the query count of ``work()``, run ``runs`` times."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times, queries = [], set()
    for _ in range(runs):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            work()
            times.append((time.perf_counter() - started) * 1000)
        queries.add(len(captured))
    return {"what": label, "median_ms": round(statistics.median(times), 1),
            "max_ms": round(max(times), 1), "queries": sorted(queries)}


def main(identities: int, wave_size: int) -> dict:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "recovery_console.settings")
    django.setup()
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from bench.prepare import signed_in_cookie
    from recovery_console import clock
    from recovery_console.rollout import reports
    from recovery_console.rollout.readiness import counts, members

    if connection.vendor != "postgresql":
        sys.exit("The benchmark writes with COPY: PostgreSQL only (set DATABASE_URL).")
    if os.environ.get("BENCH_JIT") == "off":  # compare: PostgreSQL without JIT compilation
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SET jit = off")
    now = clock.now()
    started = time.monotonic()
    made = existing() or build(identities, wave_size, now)
    built = round(time.monotonic() - started, 1)
    identities = reports.population(None).count()
    wave, cohort = made["wave"], made["cohort"]
    client = Client(HTTP_HOST="localhost")
    client.defaults["HTTP_COOKIE"] = signed_in_cookie(made["auditor"])

    def page(url, query=None):
        response = client.get(url, query or {})
        assert response.status_code == 200, (url, response.status_code)
        return response.content

    org = reports.population(None)
    wave_size = members(cohort).count()
    results = [
        measure("organisation counts (readiness.counts)", lambda: counts(org, now)),
        measure("organisation passkey recency", lambda: reports.recency(org, now)),
        measure("organisation report (counts, recency, trend)",
                lambda: reports.report(None, now)),
        measure("privileged not ready, first page of 25 (the page counts from the counts)",
                lambda: list(reports.privileged_not_ready(org, now)[:25])),
        measure(f"wave cohort report ({wave_size} members)", lambda: reports.report(cohort, now)),
        measure("wave progress (wave_progress)", lambda: reports.wave_progress(wave, now)),
        measure("GET /rollout/readiness/ (organisation)",
                lambda: page(reverse("rollout:readiness"))),
        measure("GET /rollout/readiness/ (wave cohort)",
                lambda: page(reverse("rollout:readiness"), {"cohort": cohort.pk})),
        measure("GET /rollout/readiness/recency.csv (organisation)",
                lambda: page(reverse("rollout:readiness_csv", args=["recency"]))),
        measure("GET /audit/ (dashboard with the active waves' panel)",
                lambda: page(reverse("audit:dashboard"))),
        measure("take_snapshots (organisation and 4 cohorts)",
                lambda: reports.take_snapshots(now)),
    ]
    found = counts(org, now)
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        jit = cursor.fetchone()[0]
    result = {
        "identities": identities, "jit": jit, "wave_members": wave_size,
        "built_in_s": built, "rows": made["counts"],
        "organisation": found.__dict__, "wave": reports.wave_progress(wave, now).__dict__
        | {"wave": str(wave), "days": [(d.isoformat(), n) for d, n in
                                      reports.wave_progress(wave, now).days]},
        "results": results,
    }
    out = ROOT / "var" / f"bench-rollout-readiness-{identities}-jit-{jit}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    return result


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    people = args[0] if args else 100_000
    wave_people = args[1] if len(args) > 1 else min(20_000, people // 5)
    print(json.dumps(main(people, wave_people), indent=2, default=str))
