"""A first LDAP sync into an empty console, then re-syncs: an incremental
pass after 1 % of the people changed, a
full pass after another 1 % changed, a full pass and an incremental pass
with nothing changed. A private slapd loaded offline (slapadd) with a
generated organisation, the console's database flushed, and
``workflow.sync_ldap_source`` timed end to end (the read, the plan, the
writes and their audit entries, one transaction); each pass also says how
many queries and audit entries it took.

    DATABASE_URL=postgres://... python -m bench.ldap_sync [PEOPLE]   (default 10000)

EMPTIES the database named by DATABASE_URL (flush): never point it at one
you keep. Prints one JSON object, also written to var/bench-ldap-sync-<PEOPLE>.json.
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PASSWORD_ENV = "BENCH_LDAP_PASSWORD"  # noqa: S105 - the variable's name


def main(people: int, progress=None) -> dict:
    """The passes' figures; ``progress(out)`` after each pass (a run at 100k
    takes long: what was measured is kept if it is stopped)."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "recovery_console.settings")
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from accounts.models import Identity
    from recovery_console import workflow
    from tests.directory.people import READER_PASSWORD, generate
    from tests.directory.slapd import Slapd, missing
    from tests.directory.support import ldap_source

    reason = missing()
    if reason:
        sys.exit(reason)
    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    os.environ[PASSWORD_ENV] = READER_PASSWORD
    out: dict = {"people": people, "database": connection.vendor}
    progress = progress or (lambda out: None)
    directory = generate(people)
    with tempfile.TemporaryDirectory(prefix="bench-ldap-sync-") as workdir:
        server = Slapd(Path(workdir), page_limit=1000)
        try:
            server.load(directory)
            source = ldap_source(server.url, PASSWORD_ENV, ldap_page_size=1000,
                                 ldap_receive_timeout=300)
            # Service accounts as plain accounts: at this size some owner is a
            # locked account, never created, and the run would stop at the
            # database's "a service account has an owner" (see the report).
            source.rules.filter(result="service_account").delete()
            out["first_sync"] = _timed(lambda: workflow.sync_ldap_source(source))
            out["identities"] = Identity.objects.count()
            progress(out)
            pick = random.Random(18)  # noqa: S311 - not a secret
            active = [p for p in directory.people if not p.disabled]
            _change(server, pick.sample(active, people // 100), "555")
            out["incremental_1pct"] = _timed(lambda: workflow.sync_ldap_source(source))
            progress(out)
            _change(server, pick.sample(active, people // 100), "556")
            out["full_resync_1pct"] = _timed(
                lambda: workflow.sync_ldap_source(source, full=True))
            progress(out)
            out["full_resync_nothing_changed"] = _timed(
                lambda: workflow.sync_ldap_source(source, full=True))
            progress(out)
            out["incremental_nothing_changed"] = _timed(
                lambda: workflow.sync_ldap_source(source))
        finally:
            server.stop()
    return out


def _change(server, people: list, prefix: str) -> None:
    """A new callback number for each of ``people`` (an LDAP modify: their
    modifyTimestamp moves, so an incremental pass sees them)."""
    server.modify("".join(
        f"dn: {p.dn}\nchangetype: modify\nreplace: telephoneNumber\n"
        f"telephoneNumber: +1 {prefix} {i:07d}\n\n" for i, p in enumerate(people)))


def _timed(sync) -> dict:
    """One pass, timed end to end (and the CPU time of this process: on a
    shared machine the clock measures the others too), with what it did and
    how many queries and audit entries it took (queries counted, not kept: a first pass of
    100k people sends hundreds of megabytes of SQL)."""
    from django.db import connection

    from audit.models import ChainLink

    count = [0]

    def counted(execute, sql, params, many, context):
        count[0] += 1
        return execute(sql, params, many, context)

    entries, load = ChainLink.objects.count(), os.getloadavg()[0]
    started, cpu = time.perf_counter(), time.process_time()
    with connection.execute_wrapper(counted):
        run = sync()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1), "status": run.status,
            "complete": run.complete,
            "created": run.created, "changed": run.changed, "deactivated": run.deactivated,
            "unchanged": run.unchanged, "queries": count[0],
            "audit_entries": ChainLink.objects.count() - entries,
            "apply_seconds": round((run.finished_at - run.started_at).total_seconds(), 1),
            "load_before_after": [round(load, 1), round(os.getloadavg()[0], 1)]}


if __name__ == "__main__":
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    (ROOT / "var").mkdir(exist_ok=True)
    kept = ROOT / "var" / f"bench-ldap-sync-{size}.json"
    report = main(size, progress=lambda out: kept.write_text(json.dumps(out, indent=2)))
    kept.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
