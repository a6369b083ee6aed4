"""The console's side of a plan: the identities a run compares against,
read as plain data (``mapping.Existing``) in a constant number of queries."""

from __future__ import annotations

from django.db.models import Prefetch, Q

from accounts.identifiers import canonical
from accounts.models import Identity, RecoveryChannel

from .mapping import Channel, Console, Desired, Existing
from .models import DirectorySource


def snapshot(source: DirectorySource, desired: list[Desired], *,
             complete: bool = True) -> Console:
    """Every identity of ``source`` (for a partial pass, ``complete`` False:
    only those the records name), and every other identity a record names
    by identifier or refers to (manager, sponsor, owner), with live channels."""
    keys, refs = set(), set()
    for item in desired:
        keys.add(item.key)
        refs.add(item.external_id)
        named = [ref for ref in (item.manager, item.sponsor, item.owner) if ref]
        keys.update(canonical(ref) for ref in named)
        refs.update(named)
    if complete:
        wanted = Q(directory_source=source) | Q(directory_key__in=keys)
    else:  # a SCIM call or an incremental pass: a few rows, however large the source
        wanted = Q(directory_source=source, external_id__in=refs) | Q(directory_key__in=keys)
    live = RecoveryChannel.objects.filter(revoked_at__isnull=True).only(
        "pk", "identity_id", "kind", "address", "from_directory", "revoked_at")
    rows = (Identity.objects.filter(wanted).select_related("directory_source")
            .prefetch_related(Prefetch("channels", queryset=live)).order_by("pk"))
    return Console(source_id=source.pk, identities=[_existing(row) for row in rows])


def _existing(row: Identity) -> Existing:
    return Existing(
        pk=row.pk, source_id=row.directory_source_id, external_id=row.external_id,
        directory_id=row.directory_id, display_name=row.display_name, kind=row.kind,
        privileged=row.privileged, data_sensitivity=row.data_sensitivity,
        department=row.department, directory_phone=row.directory_phone,
        is_active=row.is_active, manager=row.manager_id, sponsor=row.sponsor_id,
        owner=row.owner_id,
        source_name=row.directory_source.name if row.directory_source else "",
        channels=[Channel(pk=c.pk, kind=c.kind, address=c.address,
                          from_directory=c.from_directory, revoked=c.revoked_at is not None)
                  for c in row.channels.all()])
