"""The console's side of a plan: the identities a run compares against,
read as plain data (``mapping.Existing``).

Rows come as tuples (``values_list``), never as model instances, and the
source is not joined: a source row carries the ids its last full LDAP pass
saw (``ldap_seen_ids``, one JSON list as long as the directory), which a
join would decode once per identity. A full pass of a source whose people
are all here already reads its identities and their live channels in two
queries on PostgreSQL, however many there are; what the records name
beyond them (people typed in the console, other sources' identities) is
looked up by identifier, only for identifiers the source does not hold.
Channels are asked for by identity pk, not through a join with the
identities: a join's plan rests on the table statistics, which right after
a first pass created thousands of rows can still say "a few" (a nested
loop: 50 s for 10k people, where the list of pks takes under a second).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from django.db import connection
from django.db.models import F, Lookup, QuerySet

from accounts.identifiers import canonical
from accounts.models import Identity, RecoveryChannel

from .mapping import Channel, Console, Desired, Existing
from .models import DirectorySource

FIELDS = ("pk", "directory_source_id", "external_id", "directory_id", "directory_key",
          "display_name", "kind", "privileged", "data_sensitivity", "department",
          "directory_phone", "is_active", "manager_id", "sponsor_id", "owner_id")


def snapshot(source: DirectorySource, desired: list[Desired], *,
             complete: bool = True) -> Console:
    """Every identity of ``source`` (for a partial pass, ``complete`` False:
    only those the records name), and every other identity a record names
    by identifier or refers to (manager, sponsor, owner), with live channels."""
    keys, refs, named = set(), set(), set()
    for item in desired:
        keys.add(item.key)
        refs.add(item.external_id)
        named.update(ref for ref in (item.manager, item.sponsor, item.owner) if ref)
    refs |= named
    identities = Identity.objects.order_by().values_list(*FIELDS)  # sorted here, by pk
    own = identities.filter(directory_source=source)
    if complete:
        rows = list(own)
    else:  # a SCIM call or an incremental pass: a few rows, however large the source
        rows = list(_batched(own, "external_id", refs))
    # A reference the source holds as a source id resolves to it before any
    # identifier is tried (``mapping.plan``): only the others are looked up
    # by identifier too, with each record's own identifier.
    held = {row[2] for row in rows}
    keys.update(canonical(ref) for ref in named if ref not in held)
    keys -= {row[4] for row in rows}
    seen = {row[0] for row in rows}
    others = [row for row in _batched(identities, "directory_key", keys)
              if row[0] not in seen]
    rows += others
    channels = RecoveryChannel.objects.filter(revoked_at__isnull=True).values_list(
        "identity_id", "pk", "kind", "address", "from_directory")
    live: dict[int, list[Channel]] = {}  # each in the model's order (kind, address)
    found = _batched(channels, "identity_id", [row[0] for row in rows])
    for identity_pk, pk, kind, address, from_directory in found:
        live.setdefault(identity_pk, []).append(Channel(
            pk=pk, kind=kind, address=address, from_directory=from_directory, revoked=False))
    other_sources = {row[1] for row in rows} - {None, source.pk}
    names = dict(DirectorySource.objects.filter(pk__in=other_sources).values_list("pk", "name")
                 ) if other_sources else {}
    names[source.pk] = source.name
    rows.sort(key=lambda row: row[0])
    return Console(source_id=source.pk, identities=[
        _existing(row, live.get(row[0], []), names) for row in rows])


def _batched(rows: QuerySet, field: str, values: Iterable) -> Iterator[tuple]:
    """``rows`` whose ``field`` is one of ``values``: on PostgreSQL in one
    query, the values as one array parameter (an ``IN`` list of 100k
    parameters takes seconds to build and to parse); elsewhere as many at a
    time as the database takes (SQLite). No query for no values."""
    values = sorted(set(values))
    if not values:
        return
    if connection.vendor == "postgresql":
        yield from rows.filter(_AnyOf(F(field), values))
        return
    size = connection.features.max_query_params or len(values)
    for start in range(0, len(values), size):
        yield from rows.filter(**{f"{field}__in": values[start:start + size]})


class _AnyOf(Lookup):
    """``field = ANY(%s)`` with a list as the one parameter (PostgreSQL)."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s)", [*params, self.rhs]


def _existing(row: tuple, channels: list[Channel], names: dict[int, str]) -> Existing:
    (pk, source_id, external_id, directory_id, _key, display_name, kind, privileged,
     sensitivity, department, directory_phone, is_active, manager, sponsor, owner) = row
    return Existing(
        pk=pk, source_id=source_id, external_id=external_id, directory_id=directory_id,
        display_name=display_name, kind=kind, privileged=privileged,
        data_sensitivity=sensitivity, department=department, directory_phone=directory_phone,
        is_active=is_active, manager=manager, sponsor=sponsor, owner=owner,
        source_name=names.get(source_id, "") if source_id else "", channels=channels)
