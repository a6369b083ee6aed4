"""Directory decisions: every source (CSV upload, LDAP sync, SCIM calls)
changes identities through these, and only these.

- ``preview_directory``: a security admin's upload is planned and kept as a
  run in ``previewed``; nothing else is written.
- ``apply_directory_run``: the security admin applies a previewed run.
- ``sync_directory``: a source that needs no preview (LDAP on a schedule,
  SCIM) plans and applies at once; a failure is recorded on the run.
- ``provision_scim_user``: a SCIM client's write (create, replace, patch,
  delete) of one user: the user's whole record through ``sync_directory``,
  the SCIM resource kept in the same transaction.
- ``create_directory_client`` / ``revoke_directory_client``: a security
  admin lets a SCIM client write one source, with a token shown once.
- ``confirm_directory_run`` / ``discard_directory_run``: a run that would
  touch more than ``DIRECTORY_MASS_CHANGE_SHARE`` of the source's
  identities waits in ``waiting_for_confirmation`` for a security admin.

Applying is all or nothing: one transaction per run. It re-plans from the
run's records and refuses when the plan is no longer the one previewed (the
console or the mapping moved since). Every change is audited with the source
and the run. Leaving the directory revokes (``_deprovision``): the identity
is deactivated, what rested on it voided through ``void_basis`` and its open
cases cancelled with that reason, its channels and (per
``DIRECTORY_DEPROVISION_REVOKES_PASSKEYS``) passkeys revoked, its sessions
ended, its sign-in account disabled, and security monitoring told. Coming
back at the source reactivates the identity and restores none of the rest.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable
from collections.abc import Mapping as MappingType

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import F
from django.http import HttpRequest

from accounts.identifiers import canonical
from accounts.models import Identity, PasskeyCredential, RecoveryChannel, User
from accounts.roles import Role
from audit.events import record, record_many

from .. import alerts, clock, notices, tokens
from ..directory import console
from ..directory.groups import store_group_memberships
from ..directory.mapping import NEW, Change, Plan, desired_states, plan
from ..directory.models import DirectoryClient, DirectorySource, ScimGroup, ScimUser, SyncRun
from ..directory.scim import schema as scim
from ..models import Alert
from .base import WorkflowError, _decision, _end_sessions
from .closing import void_basis
from .rules import _require_role

Status = SyncRun.Status
SHOWN_PROBLEMS = 20
BULK = 1000  # rows a statement inserts, and usernames one query looks up
CHANNEL_EVENTS = {"add": "directory_channel_added", "change": "directory_channel_changed",
                  "remove": "directory_channel_revoked", "claim": "directory_channel_claimed"}


def _plan(source: DirectorySource, records: list[MappingType], *, complete: bool,
          lines: list[int] | None = None) -> Plan:
    mapping = source.mapping()
    desired, problems = desired_states(records, mapping, lines=lines)
    result = plan(desired, console.snapshot(source, desired, complete=complete), mapping,
                  complete=complete)
    result.problems[:0] = problems
    return result


def _refuse_problems(result: Plan, target) -> None:
    if result.problems:
        shown = [str(p) for p in result.problems[:SHOWN_PROBLEMS]]
        more = len(result.problems) - len(shown)
        raise WorkflowError(
            "Nothing was changed: fix these records at the source and try again. "
            + " ".join(shown) + (f" ({more} more.)" if more > 0 else ""),
            reason="bad_records", status=WorkflowError.BAD_REQUEST, target=target,
            problems=shown)


def _lock_source(source: DirectorySource) -> DirectorySource:
    """One run of a source at a time: the next waits for this one's commit."""
    source = DirectorySource.objects.select_for_update().get(pk=source.pk)
    if not source.enabled:
        raise WorkflowError(f"The source {source.name} is disabled.", reason="source_disabled",
                            target=source)
    return source


def _counts(run: SyncRun, result: Plan) -> None:
    run.created, run.changed = result.count("create"), result.count("change")
    run.deactivated, run.unchanged = result.count("deactivate"), result.count("unchanged")
    run.warnings = len(result.warnings)
    run.preview, run.fingerprint = result.as_json(masked=True), result.fingerprint


@_decision("directory_preview", actor="actor")
def preview_directory(source: DirectorySource, records: list[MappingType], actor: User, *,
                      complete: bool = True, file_name: str = "",
                      lines: list[int] | None = None,
                      request: HttpRequest | None = None) -> SyncRun:
    """A security admin hands over a source's records (an uploaded CSV): the
    plan is kept as a run in ``previewed`` with the records, to be applied
    or discarded; no identity changes. Records that cannot be used are
    refused all together, and nothing is kept. ``lines``: each record's line
    in the file, for the messages."""
    _require_role(actor, Role.SECURITY_ADMIN)
    source = _lock_source(source)
    records = list(records)
    result = _plan(source, records, complete=complete, lines=lines)
    _refuse_problems(result, source)
    run = SyncRun(source=source, status=Status.PREVIEWED, complete=complete,
                  file_name=file_name[:200], started_at=clock.now(), started_by=actor,
                  records={"items": records, "lines": lines})
    _counts(run, result)
    run.save()
    record("directory_previewed", target=run, actor=actor, request=request, source=source.pk,
           created=run.created, changed=run.changed, deactivated=run.deactivated)
    return run


@_decision("directory_apply", actor="actor")
def apply_directory_run(run: SyncRun, actor: User, *,
                        request: HttpRequest | None = None) -> SyncRun:
    """A security admin applies the run they previewed, exactly as previewed:
    refused if the plan moved since. A run touching too large a share of the
    source's identities waits for a security admin's confirmation instead."""
    _require_role(actor, Role.SECURITY_ADMIN)
    run, result = _replan(run, Status.PREVIEWED, "apply")
    if _too_large(run.source, result):
        run.status = Status.WAITING
        run.save(update_fields=["status"])
        return _waiting(run, result, actor, request)
    return _apply(run, result, actor, request)


def _waiting(run: SyncRun, result: Plan, actor: User | None,
             request: HttpRequest | None) -> SyncRun:
    """A run too large to apply unseen waits for a security admin: audited,
    and security monitoring told."""
    record("directory_run_waiting", target=run, actor=actor, request=request,
           source=run.source_id, touched=result.touched)
    notices.owe_to_monitoring(
        decision=f"directory-waiting:{run.pk}", event="directory_run_waiting",
        subject="Directory run waiting for confirmation",
        body=f"{run}: it would change or deactivate {result.touched} identities; "
             "a security admin must confirm it.")
    return run


@_decision("directory_confirm", actor="actor")
def confirm_directory_run(run: SyncRun, actor: User, *,
                          request: HttpRequest | None = None) -> SyncRun:
    """A security admin confirms a run that waited because of its size,
    having seen its preview; applied exactly as previewed (refused if the
    plan moved since)."""
    _require_role(actor, Role.SECURITY_ADMIN)
    run, result = _replan(run, Status.WAITING, "confirm")
    run.confirmed_by, run.confirmed_at = actor, clock.now()
    record("directory_run_confirmed", target=run, actor=actor, request=request,
           source=run.source_id, touched=result.touched)
    return _apply(run, result, actor, request)


@_decision("directory_discard", actor="actor")
def discard_directory_run(run: SyncRun, actor: User, *,
                          request: HttpRequest | None = None) -> SyncRun:
    """A security admin discards a previewed or waiting run: nothing of it
    is applied, and its records are dropped."""
    _require_role(actor, Role.SECURITY_ADMIN)
    run = SyncRun.objects.select_for_update().get(pk=run.pk)
    if not run.is_open:
        raise WorkflowError(f"This run is {run.get_status_display().lower()}: there is nothing "
                            "to discard.", reason="run_closed", target=run)
    run.status, run.finished_at, run.records = Status.DISCARDED, clock.now(), None
    run.save(update_fields=["status", "finished_at", "records"])
    record("directory_run_discarded", target=run, actor=actor, request=request,
           source=run.source_id)
    return run


def sync_directory(source: DirectorySource, records: Iterable[MappingType], *,
                   complete: bool = True, actor: User | None = None,
                   request: HttpRequest | None = None,
                   after: Callable[[SyncRun], None] | None = None) -> SyncRun:
    """A source that needs no preview (an LDAP pass, a SCIM call) applies its
    records at once, as a run. All or nothing: a run that cannot apply (bad
    records, a database error) changes no identity and is recorded as
    failed with its reason, monitoring told; one too large waits for a
    security admin. Returns the run (failed, waiting or succeeded).
    ``after(run)``, once the run applied and inside its transaction: the
    source's own bookkeeping (the SCIM resource), kept with the identities
    or not at all."""
    records = list(records)
    run = SyncRun.objects.create(source=source, complete=complete, started_at=clock.now(),
                                 started_by=actor, status=Status.RUNNING)
    try:
        with transaction.atomic():
            locked = _lock_source(source)
            result = _plan(locked, records, complete=complete)
            _refuse_problems(result, run)
            _counts(run, result)
            run.records = {"items": records, "lines": None}  # applied, or kept to confirm
            if _too_large(locked, result):
                run.status = Status.WAITING
                run.save()
                return _waiting(run, result, actor, request)
            run = _apply(run, result, actor, request)
            if after is not None:
                after(run)
            return run
    except (WorkflowError, DatabaseError) as failure:
        reason = failure.message if isinstance(failure, WorkflowError) else \
            f"Database error: {failure}"
        return _fail(run, reason, actor, request)


# --- SCIM ----------------------------------------------------------------------

@_decision("directory_client_create", actor="actor")
def create_directory_client(name: str, source: DirectorySource, actor: User, *,
                            request: HttpRequest | None = None) -> tuple[DirectoryClient, str]:
    """A security admin lets a SCIM client write ``source`` (a SCIM source)
    and only it. Returns the client and its bearer token, which is shown
    this once: only its keyed hash is kept."""
    _require_role(actor, Role.SECURITY_ADMIN)
    if source.kind != DirectorySource.Kind.SCIM:
        raise WorkflowError(f"{source.name} is not a SCIM source.", reason="not_scim_source",
                            status=WorkflowError.BAD_REQUEST, target=source)
    token = "scim_" + tokens.new_token()
    client = DirectoryClient.objects.create(
        name=name, source=source, token_digest=tokens.digest("directory-client", token),
        created_at=clock.now(), created_by=actor)
    record("directory_client_created", target=client, actor=actor, request=request,
           source=source.pk)
    return client, token


@_decision("directory_client_revoke", actor="actor")
def revoke_directory_client(client: DirectoryClient, actor: User, *,
                            request: HttpRequest | None = None) -> DirectoryClient:
    """A security admin revokes a SCIM client's token: its next call is refused."""
    _require_role(actor, Role.SECURITY_ADMIN)
    client = DirectoryClient.objects.select_for_update().get(pk=client.pk)
    if client.revoked_at is None:
        client.revoked_at, client.revoked_by = clock.now(), actor
        client.save(update_fields=["revoked_at", "revoked_by"])
        record("directory_client_revoked", target=client, actor=actor, request=request,
               source=client.source_id)
    return client


def directory_client(token: str) -> DirectoryClient | None:
    """The client whose bearer token this is (perhaps revoked), or None."""
    if not token:
        return None
    return DirectoryClient.objects.select_related("source").filter(
        token_digest=tokens.digest("directory-client", token)).first()


@_decision("scim_user_write")
def _check_scim_write(client: DirectoryClient, user: ScimUser | None, resource: dict,
                      scim_id: str, deleted: bool, groups: list[str]) -> None:
    """Refused before any run: a revoked client, a record the mapping cannot
    use (400), a userName another user or identity holds (409)."""
    if client.is_revoked:
        raise WorkflowError("This client's token is revoked.", reason="client_revoked",
                            status=WorkflowError.FORBIDDEN, target=client)
    if deleted:
        return
    source = client.source
    _wanted, problems = desired_states([scim.record(resource, scim_id, groups=groups)],
                                       source.mapping())
    if problems:
        raise WorkflowError(str(problems[0]).removeprefix("Record 1: "), reason="bad_records",
                            status=WorkflowError.BAD_REQUEST, target=client)
    key = canonical(resource["userName"])
    taken = ScimUser.objects.filter(source=source, user_name_key=key, deleted_at__isnull=True)
    held = Identity.objects.filter(directory_key=key, directory_source__isnull=False).exclude(
        directory_source=source, external_id=scim_id)
    if taken.exclude(pk=getattr(user, "pk", None)).exists() or held.exists():
        raise WorkflowError(f"The userName {resource['userName']!r} is already taken.",
                            reason="not_unique", target=client)


def provision_scim_user(client: DirectoryClient, user: ScimUser | None, resource: dict, *,
                        deleted: bool = False,
                        request: HttpRequest | None = None) -> tuple[SyncRun, ScimUser | None]:
    """A SCIM client creates (``user`` None), replaces or patches (the
    resource already merged onto the whole user) or deletes (``deleted``)
    one user of its source. The user's whole record goes through
    ``sync_directory`` as one run, so a deleted or inactive user is
    deprovisioned like any leaver; the SCIM resource is kept in the run's
    transaction. Refusals (``WorkflowError``) come before any run, or after
    a failed one when another call changed the user meanwhile (two PATCHes
    at once: the later one is refused, not merged onto a stale copy); any
    other run that fails is returned failed, nothing written but the run."""
    scim_id = str(user.scim_id if user else uuid.uuid4())
    groups = _group_names([user.pk]).get(user.pk, []) if user else []
    _check_scim_write(client, user, resource, scim_id, deleted, groups)
    kept: dict[str, ScimUser] = {}

    def keep(run: SyncRun) -> None:
        now = clock.now()
        row = ScimUser.objects.select_for_update().get(pk=user.pk) if user else \
            ScimUser(source=client.source, scim_id=scim_id, created_at=now, version=0)
        if user is not None and row.version != user.version:
            kept["stale"] = row  # another call changed it since ``resource`` was made
            raise WorkflowError("The user changed while this request ran: read it again.",
                                reason="stale_user", target=row)
        row.identity = Identity.objects.filter(directory_source=client.source,
                                                external_id=scim_id).first()
        row.resource, row.user_name = resource, resource["userName"]
        row.active = resource.get("active", True) is not False
        row.user_name_key = canonical(row.user_name)
        row.external_id = resource.get("externalId", "")[:255]
        row.version, row.updated_at = row.version + 1, now
        row.deleted_at = now if deleted else None
        row.save()
        record("scim_user_deleted" if deleted else "scim_user_written", target=row,
               request=request, client=client.pk, client_name=client.name,
               source=client.source_id, run=run.pk, created=user is None)
        kept["user"] = row

    run = sync_directory(client.source, [scim.record(resource, scim_id, groups=groups,
                                                      deleted=deleted)],
                         complete=False, request=request, after=keep)
    if "stale" in kept:
        raise WorkflowError(run.failure_reason, reason="stale_user", target=kept["stale"])
    return run, kept.get("user")


def _group_names(user_pks: Iterable[int], leaving: ScimGroup | None = None) -> dict[int, list]:
    """Each user's live groups' names (without ``leaving``)."""
    rows = ScimGroup.members.through.objects.filter(
        scimuser_id__in=list(user_pks), scimgroup__deleted_at__isnull=True)
    if leaving is not None:
        rows = rows.exclude(scimgroup_id=leaving.pk)
    names: dict[int, list] = {}
    for user_pk, name in rows.values_list("scimuser_id", "scimgroup__display_name"):
        names.setdefault(user_pk, []).append(name)
    return names


@_decision("scim_group_write")
def _check_scim_group(client: DirectoryClient, group: ScimGroup | None, resource: dict,
                      deleted: bool) -> list[ScimUser]:
    """The group's new members, refused (before any run) for a revoked
    client, a member who is no user of the source (400) or a display name
    another group holds (409)."""
    if client.is_revoked:
        raise WorkflowError("This client's token is revoked.", reason="client_revoked",
                            status=WorkflowError.FORBIDDEN, target=client)
    if deleted:
        return []
    wanted = [member["value"] for member in resource.get("members", [])]
    members = []
    if wanted:
        try:
            ids = [uuid.UUID(value) for value in wanted]
        except ValueError:
            ids = None
        members = list(ScimUser.objects.filter(source=client.source, scim_id__in=ids or [],
                                               deleted_at__isnull=True))
        if ids is None or len(members) != len(set(ids)):
            known = {str(member.scim_id) for member in members}
            missing = next(value for value in wanted if value not in known)
            raise WorkflowError(f"No user {missing} here to be a member.",
                                reason="unknown_member", status=WorkflowError.BAD_REQUEST,
                                target=client)
    taken = ScimGroup.objects.filter(source=client.source, deleted_at__isnull=True,
                                     display_key=canonical(resource["displayName"]))
    if taken.exclude(pk=getattr(group, "pk", None)).exists():
        raise WorkflowError(f"The group {resource['displayName']!r} already exists.",
                            reason="not_unique", target=client)
    return members


def provision_scim_group(client: DirectoryClient, group: ScimGroup | None, resource: dict, *,
                         deleted: bool = False,
                         request: HttpRequest | None = None) -> tuple[SyncRun, ScimGroup | None]:
    """A SCIM client creates, replaces or patches (``resource`` whole, with
    its ``members``) or deletes one group of its source. Every user who
    joins or leaves it, or whose group is renamed, has their whole record
    handed to ``sync_directory`` with their new groups, in one run: the
    source's group rules (privileged, kind, sensitivity) follow. The group
    is kept in the run's transaction. Refusals as ``provision_scim_user``."""
    members = _check_scim_group(client, group, resource, deleted)
    before = list(group.members.filter(deleted_at__isnull=True)) if group else []
    affected = {user.pk: user for user in [*before, *members]}
    names = _group_names(affected, leaving=group)
    if not deleted:
        for user in members:
            names.setdefault(user.pk, []).append(resource["displayName"])
    records = [scim.record(user.resource, str(user.scim_id), groups=names.get(pk, []))
               for pk, user in affected.items()]
    kept: dict[str, ScimGroup] = {}

    def keep(run: SyncRun) -> None:
        now = clock.now()
        row = ScimGroup.objects.select_for_update().get(pk=group.pk) if group else \
            ScimGroup(source=client.source, scim_id=uuid.uuid4(), created_at=now, version=0)
        if group is not None and row.version != group.version:
            kept["stale"] = row
            raise WorkflowError("The group changed while this request ran: read it again.",
                                reason="stale_group", target=row)
        row.display_name = resource["displayName"]
        row.display_key = canonical(row.display_name)
        row.external_id = resource.get("externalId", "")[:255]
        row.version, row.updated_at = row.version + 1, now
        row.deleted_at = now if deleted else None
        row.save()
        row.members.set(members)
        # Their ``groups`` read differently now: a new version (ETag) for each.
        ScimUser.objects.filter(pk__in=_regrouped(group, resource, before, members, deleted)) \
            .update(version=F("version") + 1, updated_at=now)
        record("scim_group_deleted" if deleted else "scim_group_written", target=row,
               request=request, client=client.pk, client_name=client.name,
               source=client.source_id, run=run.pk, created=group is None,
               members=len(members), affected=len(affected))
        kept["group"] = row

    run = sync_directory(client.source, records, complete=False, request=request, after=keep)
    if "stale" in kept:
        raise WorkflowError(run.failure_reason, reason="stale_group", target=kept["stale"])
    return run, kept.get("group")


def _regrouped(group: ScimGroup | None, resource: dict, before: list[ScimUser],
               members: list[ScimUser], deleted: bool) -> set[int]:
    """The users whose ``groups`` a group write changes: who joins or
    leaves, and every member when the group is renamed or deleted."""
    was, now = {user.pk for user in before}, {user.pk for user in members}
    if deleted or (group is not None and group.display_name != resource["displayName"]):
        return was | now
    return was ^ now


def _fail(run: SyncRun, reason: str, actor: User | None, request: HttpRequest | None) -> SyncRun:
    with transaction.atomic():
        run.status, run.finished_at, run.records = Status.FAILED, clock.now(), None
        run.failure_reason = reason
        run.save(update_fields=["status", "finished_at", "records", "failure_reason"])
        record("directory_run_failed", target=run, actor=actor, request=request,
               source=run.source_id, reason=reason[:500])
        notices.owe_to_monitoring(
            decision=f"directory-failed:{run.pk}", event="directory_run_failed",
            subject="Directory run failed", body=f"{run}: {reason[:500]}")
    return run


def _replan(run: SyncRun, status: str, doing: str) -> tuple[SyncRun, Plan]:
    """The run locked, in ``status``, and its plan made again from its
    records: refused unless it is the plan the security admin saw."""
    run = SyncRun.objects.select_for_update().select_related("source").get(pk=run.pk)
    if run.status != status:
        raise WorkflowError(f"You cannot {doing} a run that is "
                            f"{run.get_status_display().lower()}.", reason="run_state",
                            target=run, state=run.status)
    run.source = _lock_source(run.source)
    records = run.records or {"items": [], "lines": None}
    result = _plan(run.source, records["items"], complete=run.complete,
                   lines=records.get("lines"))
    if result.problems or result.fingerprint != run.fingerprint:
        raise WorkflowError("The console or the source's mapping changed since this preview: "
                            "nothing was applied. Discard it and upload the file again.",
                            reason="stale_preview", status=WorkflowError.CONFLICT, target=run)
    return run, result


def _too_large(source: DirectorySource, result: Plan) -> bool:
    return too_large(source, result.touched, sum(1 for c in result.changes if c.adopt))


def too_large(source: DirectorySource, touched: int, adopted: int) -> bool:
    """Would changing or deactivating ``touched`` identities exceed the
    allowed share of the source's (those it manages, and the ``adopted`` it
    takes over)? Then the run waits for a security admin."""
    if touched < settings.DIRECTORY_MASS_CHANGE_MINIMUM:
        return False
    base = Identity.objects.filter(directory_source=source, is_active=True).count() + adopted
    return touched > settings.DIRECTORY_MASS_CHANGE_SHARE * base


# --- applying a plan -------------------------------------------------------------

def _apply(run: SyncRun, result: Plan, actor: User | None,
           request: HttpRequest | None) -> SyncRun:
    """Apply every change of ``result`` in the caller's transaction; the run
    succeeds with it or not at all."""
    applier = _Applier(run, actor, request)
    applier.apply(result)
    store_group_memberships(run.source, (run.records or {}).get("items", ()))
    run.status, run.finished_at, run.records = Status.SUCCEEDED, clock.now(), None
    _counts(run, result)
    run.save()
    record("directory_run_succeeded", target=run, actor=actor, request=request,
           source=run.source_id, created=run.created, changed=run.changed,
           deactivated=run.deactivated, unchanged=run.unchanged)
    return run


class _Applier:
    def __init__(self, run: SyncRun, actor: User | None, request: HttpRequest | None):
        self.run, self.source, self.actor, self.request = run, run.source, actor, request
        self.now = clock.now()
        self.created: dict[str, Identity] = {}
        self.identities: dict[int, Identity] = {}
        self.others: dict[int, Identity] = {}

    def audit(self, event: str, target, **data) -> None:
        record(event, target=target, actor=self.actor, request=self.request,
               source=self.source.pk, source_name=self.source.name, run=self.run.pk, **data)

    def apply(self, result: Plan) -> None:
        touched = [c.identity for c in result.changes if c.identity and c.action != "unchanged"]
        self.identities = Identity.objects.select_for_update().in_bulk(touched)
        named = {ref for c in result.changes for _old, ref in c.relations.values()
                 if isinstance(ref, int) and ref not in self.identities}
        self.others = Identity.objects.in_bulk(named)
        self._create_all([c for c in result.changes if c.action == "create"])
        for change in result.changes:
            if change.action in ("change", "deactivate") and (change.fields or change.relations
                                                               or change.adopt):
                self._change(change)
        for change in result.changes:
            if change.action == "change":  # a new identity's channels came with it
                for channel in change.channels:
                    self._channel(self._identity(change), channel, watched=True)
        for change in result.changes:
            if change.action == "deactivate":
                self._deprovision(self._identity(change), change.reason)

    def _identity(self, change: Change) -> Identity:
        return self.created[change.external_id] if change.identity is None else \
            self.identities[change.identity]

    def _target(self, ref: int | str | None) -> Identity | None | bool:
        """The identity a relation points at; False for one not in the
        database yet."""
        if ref is None:
            return None
        if isinstance(ref, str) and ref.startswith(NEW):
            created = self.created.get(ref[len(NEW):])
            return created if created is not None and created.pk is not None else False
        return self.identities.get(ref) or self.others[ref]

    def _create_all(self, creates: list[Change]) -> None:
        """The new identities in bulk: their sign-in accounts, the identities
        (people first, as the database wants a service account's owner at
        insert), relations to others created in this run, their channels, and
        one audit entry per identity and per channel. A bulk insert passes by
        ``save()`` and django-auditlog's signals, so the keys ``save()`` would
        set are set here and the entries written with ``record_many`` (in
        this transaction, chained at its commit like every other)."""
        if not creates:
            return
        users = self._new_users(creates)
        waiting = sorted(creates, key=lambda c: c.fields.get("kind", [0, ""])[1]
                         == "service_account")
        while waiting:
            batch, waiting = self._insertable(waiting)
            Identity.objects.bulk_create([self._built(c, users[c.external_id]) for c in batch],
                                         batch_size=BULK)
        deferred, fields = [], set()
        for change in creates:
            identity = self.created[change.external_id]
            pending = {relation: ref for relation, (_old, ref) in change.relations.items()
                       if isinstance(ref, str) and getattr(identity, f"{relation}_id") is None}
            for relation, ref in pending.items():
                setattr(identity, relation, self._target(ref) or None)
            if pending:
                deferred.append(identity)
                fields.update(pending)
        if deferred:
            Identity.objects.bulk_update(deferred, sorted(fields), batch_size=BULK)
        channels = [(change, RecoveryChannel(
            identity=self.created[change.external_id], kind=item["kind"],
            address=item["address"], from_directory=True, verified_at=self.now,
            last_confirmed_at=self.now, changed_at=self.now,
            address_key=canonical(item["address"]) if item["kind"] == "email" else ""))
            for change in creates for item in change.channels]  # new: every channel is added
        RecoveryChannel.objects.bulk_create([channel for _c, channel in channels],
                                            batch_size=BULK)
        about = {"source": self.source.pk, "source_name": self.source.name, "run": self.run.pk}
        record_many("directory_identity_created", Identity, [
            (self.created[c.external_id].pk,
             {**about, "fields": _plain(c.fields), "relations": _plain(c.relations),
              "account": users[c.external_id].username}) for c in creates], actor=self.actor)
        record_many(CHANNEL_EVENTS["add"], RecoveryChannel, [
            (channel.pk, {**about, "identity": channel.identity_id, "kind": channel.kind})
            for _change, channel in channels], actor=self.actor)

    def _insertable(self, waiting: list[Change]) -> tuple[list[Change], list[Change]]:
        """Who can go in now: everyone but service accounts whose owner is
        still to be created (they go in the next round). A round that would
        insert nobody inserts everyone left, and the database refuses."""
        now, later = [], []
        for change in waiting:
            owner = change.relations.get("owner", [None, None])[1]
            if change.fields.get("kind", [0, ""])[1] == "service_account" and \
                    self._target(owner) is False:
                later.append(change)
            else:
                now.append(change)
        return (now, later) if now else (later, [])

    def _built(self, change: Change, user: User) -> Identity:
        fields = {name: new for name, (_old, new) in change.fields.items()}
        identity = Identity(directory_source=self.source, external_id=change.external_id,
                            directory_id=change.directory_id,
                            directory_key=canonical(change.directory_id), created_at=self.now,
                            user=user, **fields)
        for relation, (_old, ref) in change.relations.items():
            target = self._target(ref)
            if target is not False:
                setattr(identity, relation, target)
        self.created[change.external_id] = identity
        return identity

    def _new_users(self, creates: list[Change]) -> dict[str, User]:
        """The accounts recovered people enrol their passkeys on, by source
        id: named after the directory id unless another account has that
        name."""
        names = list({change.directory_id[:150] for change in creates})
        taken = set()
        for start in range(0, len(names), BULK):
            taken.update(User.objects.filter(username__in=names[start:start + BULK])
                         .values_list("username", flat=True))
        users = {}
        for change in creates:
            username = change.directory_id[:150]
            if username in taken:
                digest = hashlib.sha256(f"{self.source.pk}:{change.external_id}".encode())
                username = f"dir{self.source.pk}-{digest.hexdigest()[:16]}"
            taken.add(username)
            email = next((c["address"] for c in change.channels if c["kind"] == "email"), "")
            user = User(username=username, email=email, email_key=canonical(email))
            user.set_unusable_password()
            users[change.external_id] = user
        User.objects.bulk_create(users.values(), batch_size=BULK)
        return users

    def _change(self, change: Change) -> None:
        identity = self.identities[change.identity]
        for name, (_old, new) in change.fields.items():
            setattr(identity, name, new)
        for relation, (_old, ref) in change.relations.items():
            setattr(identity, relation, self._target(ref) or None)
        if change.adopt:
            identity.directory_source, identity.external_id = self.source, change.external_id
        identity.save()
        self.audit("directory_identity_changed", identity, fields=_plain(change.fields),
                   relations=_plain(change.relations), moved=change.is_move,
                   adopted=change.adopt)

    def _channel(self, identity: Identity, change: dict, *, watched: bool) -> None:
        action, kind = change["action"], change["kind"]
        if action == "add":
            channel = RecoveryChannel.objects.create(
                identity=identity, kind=kind, address=change["address"], from_directory=True,
                verified_at=self.now, last_confirmed_at=self.now, changed_at=self.now)
        else:
            channel = RecoveryChannel.objects.select_for_update().get(
                pk=change["channel"], identity=identity)
            if action == "claim":
                channel.from_directory = True
            elif action == "change":
                # Changed: recent for the risk tier (risk.py) exactly as an admin's edit.
                channel.address, channel.changed_at = change["address"], self.now
                channel.verified_at = channel.last_confirmed_at = self.now
                channel.stale_since = None
            else:
                channel.revoked_at, channel.changed_at = self.now, self.now
            channel.save()  # a changed or revoked channel voids what rested on it (basis)
        self.audit(CHANNEL_EVENTS[action], channel, identity=identity.pk, kind=kind)
        if watched and action in ("add", "change"):
            alerts.watch(identity, Alert.Kind.CHANNEL_CHANGE,
                         f"{channel.get_kind_display()} channel {channel.masked_address} "
                         f"{'added' if action == 'add' else 'changed'} by the directory "
                         f"({self.source.name}) during the watch period after a recovery.",
                         request=self.request)

    def _deprovision(self, identity: Identity, reason: str) -> None:
        """The identity left the directory (disabled, deleted, out of scope)."""
        # First the recoveries, so their cases are cancelled with this cause;
        # the deactivation's own signal then finds nothing left to stop.
        cases = void_basis(identity, "identity_deprovisioned", actor=self.actor,
                           request=self.request)
        identity.is_active = False
        identity.save()
        channels = []
        for channel in identity.channels.select_for_update().filter(revoked_at__isnull=True):
            channel.revoked_at, channel.changed_at = self.now, self.now
            channel.save()
            channels.append(channel.pk)
        passkeys, ended, signs_in = [], "none", False
        if identity.user_id is not None:
            user = identity.user
            signs_in = user.is_active
            if signs_in:  # a leaver signs in nowhere, with any factor
                user.is_active = False
                user.save(update_fields=["is_active"])
            if settings.DIRECTORY_DEPROVISION_REVOKES_PASSKEYS:
                live = PasskeyCredential.objects.filter(user_id=identity.user_id,
                                                        revoked_at__isnull=True)
                passkeys = list(live.values_list("pk", flat=True))
                live.update(revoked_at=self.now, confirmed=False)
            ended = _end_sessions(user)
        self.audit("directory_identity_deactivated", identity, reason=reason, cases=cases,
                   channels=channels, passkeys=passkeys, sessions_ended=ended,
                   account_disabled=signs_in)
        words = {"disabled": "was disabled", "deleted": "was deleted",
                 "out_of_scope": "is no longer in scope"}[reason]
        notices.owe_to_monitoring(
            decision=f"directory-deactivated:{self.run.pk}:{identity.pk}",
            event="identity_deprovisioned", identity=identity,
            subject="Identity deprovisioned by the directory",
            body=(f"{identity} {words} at {self.source.name} (run {self.run.pk}): deactivated; "
                  f"{len(cases)} open case(s) cancelled, {len(channels)} channel(s) and "
                  f"{len(passkeys)} passkey(s) revoked, sign-in account disabled, sessions "
                  "ended."))


def _plain(values: dict) -> dict:
    """Audit data: [old, new] pairs as JSON-safe text."""
    return {name: [None if v is None else str(v) for v in pair] for name, pair in values.items()}
