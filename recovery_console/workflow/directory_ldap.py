"""An LDAP / Active Directory source read and applied: the scheduled pass,
a security admin's "Sync now", and a preview of a full pass.

The read (``directory.ldap.read``) happens outside any transaction and is
all or nothing; what it returns goes through ``sync_directory`` (or
``preview_directory``), the one writer of identities. A directory that is
down, slow or refuses the bind leaves a failed run with its reason and a
notice owed to security monitoring, and changes nothing: the source's
watermark and the ids of its last full pass move only when a run succeeded,
so the next pass resumes from the last good point.

A full pass is complete: whoever the source manages and the directory no
longer returns is deactivated. An id the previous full pass saw and this
one does not was deleted at the source (or left its filter: LDAP cannot
tell the two apart), and is deactivated as deleted; anyone else missing is
out of scope. An incremental pass only carries what changed since the
watermark; deletions wait for the next full pass.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpRequest

from accounts.models import Identity, User
from accounts.roles import Role

from .. import clock
from ..directory import ldap
from ..directory.mapping import DELETED
from ..directory.models import DirectorySource, SyncRun
from .base import WorkflowError
from .directory import _fail, preview_directory, sync_directory
from .rules import _require_role

Status = SyncRun.Status


def sync_ldap_source(source: DirectorySource, *, full: bool = False, actor: User | None = None,
                     request: HttpRequest | None = None) -> SyncRun | None:
    """Read the source's directory and apply it at once (a scheduled pass,
    or a security admin's "Sync now"). Incremental from the last good
    watermark unless ``full`` or no full pass has succeeded yet. None when
    a run of this source waits for a security admin: nothing is read until
    it is confirmed or discarded."""
    if actor is not None:
        _require_role(actor, Role.SECURITY_ADMIN)
    source = _ldap_source(source)
    if source.runs.filter(status=Status.WAITING).exists():
        return None
    full = full or not source.ldap_watermark or source.ldap_seen_ids is None
    read = _read(source, "" if full else source.ldap_watermark, actor, request)
    if isinstance(read, SyncRun):
        return read
    run = sync_directory(source, _records(source, read), complete=read.full, actor=actor,
                         request=request)
    if run.status == Status.SUCCEEDED:
        _advance(source, read)
    return run


def preview_ldap_source(source: DirectorySource, actor: User, *,
                        request: HttpRequest | None = None) -> SyncRun:
    """A security admin reads the whole directory now and sees what a full
    pass would change, as a previewed run to apply or discard (the usual
    preview). A read that fails is a failed run with its reason."""
    _require_role(actor, Role.SECURITY_ADMIN)
    source = _ldap_source(source)
    read = _read(source, "", actor, request)
    if isinstance(read, SyncRun):
        return read
    try:
        return preview_directory(source, _records(source, read), actor, complete=True,
                                 file_name=f"full read of {source.ldap_url}", request=request)
    except WorkflowError as refused:
        if refused.reason != "bad_records":
            raise
        run = SyncRun.objects.create(source=source, complete=True, started_at=clock.now(),
                                     started_by=actor, status=Status.RUNNING)
        return _fail(run, refused.message, actor, request)


def _ldap_source(source: DirectorySource) -> DirectorySource:
    source = DirectorySource.objects.get(pk=source.pk)
    if source.kind != DirectorySource.Kind.LDAP:
        raise WorkflowError(f"{source.name} is not an LDAP source.", reason="not_ldap",
                            target=source)
    if not source.enabled:
        raise WorkflowError(f"The source {source.name} is disabled.", reason="source_disabled",
                            target=source)
    return source


def _read(source: DirectorySource, since: str, actor: User | None,
          request: HttpRequest | None) -> ldap.Read | SyncRun:
    """The directory read whole, or the failed run saying why not."""
    try:
        source.full_clean(exclude=["name"])
        return ldap.read(source.ldap_config(), since)
    except (ValidationError, ldap.DirectoryUnavailable) as failure:
        run = SyncRun.objects.create(source=source, complete=not since, started_at=clock.now(),
                                     started_by=actor, status=Status.RUNNING)
        if isinstance(failure, ValidationError):
            reason = "not_configured: " + " ".join(failure.messages)
        else:
            reason = f"{failure.reason}: {failure.message}"
        return _fail(run, reason, actor, request)


def _records(source: DirectorySource, read: ldap.Read) -> list[dict]:
    """The records read, and for a full pass one "deleted" record for each
    identity whose id the previous full pass saw and this one did not."""
    records = list(read.records)
    if not read.full or not source.ldap_seen_ids:
        return records
    gone = set(source.ldap_seen_ids) - read.ids
    if not gone:
        return records
    active = Identity.objects.filter(directory_source=source, is_active=True).values_list(
        "external_id", "directory_id")
    for external_id, directory_id in active.iterator(chunk_size=2000):
        if external_id in gone:
            records.append({source.identifier_attribute: [directory_id],
                            source.external_id_attribute: [external_id], DELETED: True})
    return records


def _advance(source: DirectorySource, read: ldap.Read) -> None:
    """After a succeeded run: where the next incremental pass resumes, and
    (full pass) the ids it saw. An update of these fields alone, so a
    security admin's edit of the settings at the same time is kept; not
    audited (it changes every few minutes; the run is)."""
    fields = {"ldap_watermark": read.watermark or source.ldap_watermark}
    if read.full:
        fields.update(ldap_seen_ids=sorted(read.ids), ldap_last_full_at=clock.now())
    DirectorySource.objects.filter(pk=source.pk).update(**fields)
