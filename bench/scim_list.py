"""SCIM list at scale: ``GET /scim/v2/Users``
with a filter and paging, and ``/Groups`` without members, as Entra ID and
Okta ask, at 1k, 10k and 100k SCIM users of one source (each with its
identity, 20 groups of the source, every user in one to three of them).

The data is written by ``bulk_create`` in batches (no workflow: the
benchmark measures reading), then ``VACUUM ANALYZE``. Each call goes through
the whole view in process (Django's test client with the client's bearer
token: authentication, rate limit, the query, rendering, the audit entry);
per call the median and max of ``REPEAT`` runs after one warm-up, and the
SQL statements Django sent.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/wt_scim18_bench \\
        python -m bench.scim_list [SIZES]      (default 1000,10000,100000)

EMPTIES the database named by DATABASE_URL (flush): never point it at one
you keep. Prints one JSON object, also written to bench/results/scim_list.json.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPEAT = 7
GROUPS = 20
BATCH = 5_000


def _people(source, start: int, stop: int) -> None:
    """Users ``start``..``stop``-1 of ``source``, with identities and groups."""
    from accounts.identifiers import canonical, name_key
    from accounts.models import Identity
    from recovery_console.directory.models import ScimGroup, ScimUser
    from recovery_console.directory.scim.schema import CORE, ENTERPRISE

    groups = list(ScimGroup.objects.filter(source=source).order_by("pk"))
    through = ScimGroup.members.through
    for low in range(start, stop, BATCH):
        numbers = range(low, min(low + BATCH, stop))
        ids = {n: uuid.uuid4() for n in numbers}
        names = {n: f"user{n:06d}@example.com" for n in numbers}
        identities = Identity.objects.bulk_create([Identity(
            directory_id=names[n], directory_key=canonical(names[n]),
            display_name=f"Person {n}", name_key=name_key(f"Person {n}"),
            department=f"Department {n % 40}", is_active=n % 10 != 0,
            directory_source=source, external_id=str(ids[n])) for n in numbers])
        users = ScimUser.objects.bulk_create([ScimUser(
            source=source, scim_id=ids[n], identity=identity, user_name=names[n],
            user_name_key=canonical(names[n]), external_id=f"ext-{n}", active=n % 10 != 0,
            resource={"schemas": [CORE, ENTERPRISE], "userName": names[n],
                      "externalId": f"ext-{n}", "active": n % 10 != 0,
                      "displayName": f"Person {n}",
                      "name": {"givenName": "Person", "familyName": str(n)},
                      "emails": [{"type": "work", "primary": True, "value": names[n]}],
                      ENTERPRISE: {"department": f"Department {n % 40}",
                                   "employeeNumber": str(n)}})
            for n, identity in zip(numbers, identities, strict=True)])
        through.objects.bulk_create([
            through(scimuser_id=user.pk, scimgroup_id=groups[g].pk)
            for n, user in zip(numbers, users, strict=True)
            for g in {n % GROUPS, (n // 7) % GROUPS, (n // 49) % GROUPS}])


def _calls(size: int) -> list[tuple[str, str, dict]]:
    active = size - size // 10
    return [
        ("ServiceProviderConfig (the floor: token, rate limit, audit entry)",
         "ServiceProviderConfig", {}),
        ("userName eq (Entra ID, Okta: is the user there?)", "Users",
         {"filter": f'userName eq "user{size // 2:06d}@example.com"'}),
        ("externalId eq", "Users", {"filter": f'externalId eq "ext-{size // 3}"'}),
        ("active eq true, page 1 of 100", "Users",
         {"filter": "active eq true", "startIndex": 1, "count": 100}),
        ("active eq true, last page of 100", "Users",
         {"filter": "active eq true", "startIndex": active - 99, "count": 100}),
        ('userName sw "user0001" (100 users)', "Users", {"filter": 'userName sw "user0001"'}),
        ("no filter, page 1 of 100", "Users", {"startIndex": 1, "count": 100}),
        ("no filter, middle page of 100", "Users", {"startIndex": size // 2, "count": 100}),
        ("no filter, last page of 100", "Users", {"startIndex": size - 99, "count": 100}),
        ("no filter, page 1 of 500 (the largest count)", "Users", {"count": 500}),
        ("page 1 of 100, attributes=userName", "Users",
         {"count": 100, "attributes": "userName"}),
        ("Groups, excludedAttributes=members", "Groups", {"excludedAttributes": "members"}),
    ]


def _measure(client, token: str, path: str, params: dict) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    headers = {"Authorization": f"Bearer {token}"}
    client.get(f"/scim/v2/{path}", params, headers=headers)  # warm-up
    times = []
    for _ in range(REPEAT):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(f"/scim/v2/{path}", params, headers=headers)
            times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.content[:300]
    body = response.json()
    return {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1),
            "queries": len(queries), "total": body.get("totalResults"),
            "returned": body.get("itemsPerPage")}


def main(sizes: list[int]) -> dict:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "recovery_console.settings")
    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    from recovery_console import workflow
    from recovery_console.directory.models import ScimGroup, ScimUser
    from tests.directory.scim_support import scim_source
    from tests.factories import staff

    if connection.vendor != "postgresql":
        sys.exit("Point DATABASE_URL at a PostgreSQL database of its own.")
    setup_test_environment()
    settings.RATE_LIMIT_SCIM_REQUESTS_PER_CLIENT = 10**6  # one client asks everything
    settings.RATE_LIMIT_SCIM_REQUESTS_PER_ADDRESS = 10**6
    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    source = scim_source("Bench SCIM")
    _client, token = workflow.create_directory_client(
        "bench", source, staff("security_admin", is_staff=True))
    ScimGroup.objects.bulk_create([ScimGroup(
        source=source, scim_id=uuid.uuid4(), display_name=f"group {g}",
        display_key=f"group {g}") for g in range(GROUPS)])
    out: dict = {"database": connection.vendor, "repeat": REPEAT, "sizes": {}}
    client, have = Client(), 0
    for size in sorted(sizes):
        started = time.perf_counter()
        _people(source, have, size)
        have = size
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        generated = round(time.perf_counter() - started, 1)
        calls = {name: _measure(client, token, path, params)
                 for name, path, params in _calls(size)}
        out["sizes"][size] = {"users": ScimUser.objects.count(),
                              "memberships": ScimGroup.members.through.objects.count(),
                              "generate_seconds": generated, "calls": calls}
        print(f"{size}: {json.dumps(calls, indent=1)}", file=sys.stderr)
    return out


if __name__ == "__main__":
    wanted = [int(n) for n in sys.argv[1].split(",")] if len(sys.argv) > 1 else \
        [1_000, 10_000, 100_000]
    report = main(wanted)
    (ROOT / "bench" / "results" / "scim_list.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
