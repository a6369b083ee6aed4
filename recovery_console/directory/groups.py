"""The groups each identity belongs to at its source, kept as the last run
read them (``GroupMembership``): what a rollout cohort's "directory group"
rule matches. Stored by ``workflow.directory`` once a run has applied, in
its transaction, for CSV, LDAP and SCIM records alike."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping as MappingType

from accounts.identifiers import canonical
from accounts.models import Identity

from .mapping import _value, _values
from .models import DirectorySource, GroupMembership

BATCH = 1000  # identities one query reads or writes the memberships of


def store_group_memberships(source: DirectorySource, records: Iterable[MappingType]) -> int:
    """Make the stored memberships of the identities ``records`` name (by
    source id) those the records give; returns the rows added or removed.
    Nothing is written for an identity whose groups did not change, so a
    run that changes no membership costs one read per ``BATCH`` records. A
    source whose mapping names no groups attribute keeps none."""
    mapping = source.mapping()
    if not mapping.groups:
        return 0
    wanted: dict[str, dict[str, str]] = {}
    for record in records:
        external_id = _value(record, mapping.external_id or mapping.identifier)
        if external_id:
            groups = _values(record, mapping.groups, mapping.separator)
            wanted[external_id] = {canonical(name): name[:255] for name in groups}
    touched = 0
    ids = list(wanted)
    for start in range(0, len(ids), BATCH):
        touched += _store_batch(source, {i: wanted[i] for i in ids[start:start + BATCH]})
    return touched


def _store_batch(source: DirectorySource, wanted: dict[str, dict[str, str]]) -> int:
    held: dict[str, dict[str, tuple[int, str]]] = {}
    rows = GroupMembership.objects.filter(identity__directory_source=source,
                                          identity__external_id__in=list(wanted))
    for pk, external_id, key, name in rows.values_list("pk", "identity__external_id", "key",
                                                       "name"):
        held.setdefault(external_id, {})[key] = (pk, name)
    stale, missing = [], {}
    for external_id, groups in wanted.items():
        current = held.get(external_id, {})
        stale += [pk for key, (pk, name) in current.items() if groups.get(key) != name]
        add = {key: name for key, name in groups.items()
               if key not in current or current[key][1] != name}
        if add:
            missing[external_id] = add
    if stale:
        GroupMembership.objects.filter(pk__in=stale).delete()
    if missing:
        identities = dict(Identity.objects.filter(directory_source=source,
                                                  external_id__in=list(missing))
                          .values_list("external_id", "pk"))
        GroupMembership.objects.bulk_create([
            GroupMembership(identity_id=identities[external_id], name=name, key=key)
            for external_id, groups in missing.items() if external_id in identities
            for key, name in groups.items()], batch_size=BATCH)
    return len(stale) + sum(len(groups) for groups in missing.values())
