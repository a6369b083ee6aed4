"""A first LDAP sync into an empty console, then an incremental pass after
1 % of the people changed (issue 18, "Scale and speed"): a private slapd
loaded offline (slapadd) with a generated organisation, the console's
database flushed, and ``workflow.sync_ldap_source`` timed end to end (the
read, the plan, the writes and their audit entries, one transaction).

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


def main(people: int) -> dict:
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
            started = time.perf_counter()
            run = workflow.sync_ldap_source(source)
            out["first_sync"] = {"seconds": round(time.perf_counter() - started, 1),
                                 "status": run.status, "created": run.created,
                                 "apply_seconds": round(
                                     (run.finished_at - run.started_at).total_seconds(), 1)}
            out["identities"] = Identity.objects.count()
            changed = random.Random(18).sample(  # noqa: S311 - not a secret
                [p for p in directory.people if not p.disabled], people // 100)
            server.modify("".join(
                f"dn: {p.dn}\nchangetype: modify\nreplace: telephoneNumber\n"
                f"telephoneNumber: +1 555 {i:07d}\n\n" for i, p in enumerate(changed)))
            started = time.perf_counter()
            run = workflow.sync_ldap_source(source)
            out["incremental_1pct"] = {"seconds": round(time.perf_counter() - started, 1),
                                       "status": run.status, "changed": run.changed,
                                       "complete": run.complete}
            started = time.perf_counter()
            run = workflow.sync_ldap_source(source, full=True)
            out["full_resync_nothing_changed"] = {
                "seconds": round(time.perf_counter() - started, 1), "status": run.status,
                "unchanged": run.unchanged}
        finally:
            server.stop()
    return out


if __name__ == "__main__":
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    report = main(size)
    (ROOT / "var").mkdir(exist_ok=True)
    (ROOT / "var" / f"bench-ldap-sync-{size}.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
