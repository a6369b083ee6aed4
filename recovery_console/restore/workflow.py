"""Handing an approved case's restore to an external target: one function
per decision. ``begin_restore`` (the holding agent issues the recovery
credential of a case whose identity falls to an external target) moves the
case to "restoring" and queues ``run_attempt``, which a Celery task runs and
re-runs: it reads the attempt (the idempotency record) before every call to
the provider, so a retry never creates a second credential there. The
provider's confirmation completes the case and delivers the credential;
a failure sends the case back to the agent with the reason and an alert,
and never tells the person their access is restored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.http import HttpRequest

from accounts.models import Identity, RecoveryChannel, User
from audit.events import record

from .. import alerts, clock, dispatch, notices
from ..models import Alert, RecoveryCase
from ..refusal import WorkflowError
from ..workflow.base import _close, _decision, _lock, _move, _relation
from ..workflow.rules import _check_channel, _enforce, _require_state, may_issue
from . import sealing
from .config import NotConfigured, connector_for, missing_variables
from .models import RestoreAttempt, RestoreTarget
from .providers import Connector, Kind, ProviderError, Subject, TemporaryCredential

log = logging.getLogger(__name__)
State = RecoveryCase.State
Attempt = RestoreAttempt.State


# --- which target ---------------------------------------------------------------

def target_for(identity: Identity, tier: str) -> RestoreTarget | None:
    """The enabled external target that restores this person's access at
    this tier, or None for the built-in one. The most specific wins: a
    target for privileged people over one for their kind, over one for
    everyone; one for the tier over one for every tier."""
    populations = (["privileged"] if identity.privileged else []) + [identity.kind]
    candidates = RestoreTarget.objects.filter(
        Q(population__in=populations) | Q(population=""), Q(tier=tier) | Q(tier=""),
        enabled=True)

    def specificity(target: RestoreTarget) -> tuple[int, int]:
        by_population = (2 if target.population == "privileged" else
                         1 if target.population else 0)
        return by_population, 1 if target.tier else 0

    best = max(candidates, key=specificity, default=None)
    return best if best is not None and best.external else None


def subject_id_for(identity: Identity, target: RestoreTarget) -> str:
    """The person's id at the target's provider: the directory's, and only
    for people the target's directory manages. Refuses a missing or
    mismatched mapping before anything is called."""
    if identity.directory_source_id is None or \
            identity.directory_source_id != target.directory_source_id:
        raise WorkflowError(
            f"{identity.display_name} is not managed by the directory that {target.name} shares "
            "its ids with, so the console cannot tell who they are at the provider. Nothing was "
            "sent. A security admin checks the restore target's directory.",
            reason="subject_source_mismatch")
    value = (identity.external_id if target.subject_attribute ==
             RestoreTarget.SubjectAttribute.EXTERNAL_ID else identity.directory_id)
    if not value:
        raise WorkflowError(
            f"The directory gives no id at the provider for {identity.display_name}. Nothing "
            "was sent. Ask a security admin to check the directory's mapping.",
            reason="no_subject_mapping")
    return value


# --- the agent's decision --------------------------------------------------------

@_decision("restore_begin", actor="agent")
def begin_restore(case: RecoveryCase, agent: User, target: RestoreTarget, *,
                  channel: RecoveryChannel | None = None, key: str | None = None,
                  request: HttpRequest | None = None) -> RestoreAttempt:
    """Issue the recovery credential of an approved case at its external
    target: record the attempt, move the case to "restoring" and queue the
    calls to the provider. The same issue form posted again returns the
    attempt it started. The holding agent only."""
    case = _lock(case.pk)
    _enforce(may_issue(case, agent))
    if key:
        earlier = case.restore_attempts.filter(issue_key=key).first()
        if earlier is not None:
            return earlier
    _require_state(case, State.APPROVED, doing="ask the identity provider for a credential")
    now = clock.now()
    subject_id = subject_id_for(case.identity, target)
    if not target.dry_run and missing_variables(target):
        raise WorkflowError(
            f"The restore target {target.name} is not configured on this console (its "
            "credentials are missing from the environment). Nothing was sent; tell a security "
            "admin.", reason="target_not_configured", missing=missing_variables(target))
    if target.kind == RestoreTarget.Kind.KEYCLOAK:
        delivery, channel = RestoreAttempt.Delivery.PROVIDER, None
    elif channel is not None:
        _check_channel(case, channel, now)
        delivery = RestoreAttempt.Delivery.CHANNEL
    else:
        delivery = RestoreAttempt.Delivery.READ_OUT
    number = (case.restore_attempts.aggregate(n=Max("number"))["n"] or 0) + 1
    lifetime = min(case.rules.credential_lifetime, timedelta(hours=24))
    attempt = RestoreAttempt.objects.create(
        case=case, number=number, target=target, kind=target.kind, dry_run=target.dry_run,
        remove_old_passkeys=target.remove_old_passkeys, revoke_sessions=target.revoke_sessions,
        subject_id=subject_id, lifetime_seconds=int(lifetime.total_seconds()),
        delivery=delivery, channel=channel, issue_key=key or "", requested_by=agent,
        created_at=now, next_try_at=now)
    _move(case, State.RESTORING, now)
    record("restore_started", target=case, actor=agent, request=request, attempt=attempt.pk,
           number=number, restore_target=target.name, provider=target.kind,
           dry_run=target.dry_run, delivery=delivery, channel=channel.pk if channel else None,
           subject=subject_id)
    _queue(attempt.pk)
    return attempt


def _queue(attempt_id: int, countdown: float | None = None) -> None:
    def send() -> None:
        try:
            dispatch.send("run_restore", attempt_id,
                          **({"countdown": countdown} if countdown else {}))
        except Exception:  # the broker is down: the attempt waits, visible, for a retry
            log.warning("restore attempt %s not dispatched now", attempt_id)

    transaction.on_commit(send)


# --- the worker's part -----------------------------------------------------------

# A task is this late before the sweep queues its attempt again.
SWEEP_GRACE = timedelta(minutes=2)


def requeue_stalled() -> list[int]:
    """Queue again the open attempts whose task was lost (the broker down
    when the hand-off committed, a worker killed): due since a while, and
    held by no worker. Running one twice does nothing (``_take``)."""
    now = clock.now()
    stalled = list(RestoreAttempt.objects.filter(
        state__in=RestoreAttempt.OPEN, next_try_at__lte=now - SWEEP_GRACE).filter(
        Q(lease_until__isnull=True) | Q(lease_until__lte=now)).values_list("pk", flat=True)[:100])
    for attempt_id in stalled:
        try:
            dispatch.send("run_restore", attempt_id)
        except Exception:  # the broker is still down: the next sweep tries again
            log.warning("restore attempt %s not dispatched now", attempt_id)
            break
    return stalled

@dataclass
class Outcome:
    state: str
    retry_in: int | None = None  # seconds: run again then (the task's countdown)


def backoff(tries: int) -> int:
    """Seconds before try ``tries + 1``: doubling from the base, at most an hour."""
    return min(settings.RESTORE_BACKOFF_SECONDS * 2 ** max(tries - 1, 0), 3600)


def run_attempt(attempt_id: int, *, connector: Connector | None = None) -> Outcome:
    """Make (or finish) the calls one attempt owes its provider, in order:
    check the person, create the temporary credential unless the attempt
    already holds one, delete old passkeys and revoke sessions per policy,
    then confirm. Each step's result is committed before the next call, so
    a run that dies part-way is resumed, never repeated. A passing failure
    (throttled, provider error, timeout) asks to run again later."""
    taken = _take(attempt_id)
    if taken is None:
        return Outcome(RestoreAttempt.objects.get(pk=attempt_id).state)
    attempt, resumed_mid_call = taken
    if attempt.dry_run:
        return _dry_run(attempt)
    try:
        connector = connector or connector_for(attempt.target)
    except NotConfigured as missing:
        return _fail(attempt, "not_configured", str(missing))
    subject = None
    try:
        subject = connector.find_subject(attempt.subject_id)
        if subject.id.casefold() != attempt.subject_id.casefold():
            return _fail(attempt, "subject_mismatch",
                         f"{connector.label} answered for {subject.id}, not for "
                         f"{attempt.subject_id}: the ids do not match, so nothing was done.",
                         request_id=subject.request_id, connector=connector)
        if attempt.case.state != State.RESTORING:
            # Closed (cancelled, expired) after the provider made the credential:
            # nobody will receive it, so it is deleted there.
            return _fail(attempt, "case_closed", "The case closed while the provider was being "
                         "called; nothing is delivered.", connector=connector, subject=subject)
        if attempt.state != Attempt.CREATED:
            if resumed_mid_call:
                _remove_unknown(attempt, connector, subject)
            _created(attempt, connector.issue_temporary_credential(
                subject, timedelta(seconds=attempt.lifetime_seconds), single_use=True,
                idempotency_key=attempt.idempotency_key))
        if attempt.remove_old_passkeys and not attempt.passkeys_removed:
            removed = connector.remove_passkeys(subject)
            _step(attempt, "restore_passkeys_removed", removed.request_ids,
                  passkeys_removed=True, removed_passkeys=removed.removed,
                  removed=removed.removed)
        if attempt.revoke_sessions and not attempt.sessions_revoked:
            revoked = connector.revoke_sessions(subject)
            _step(attempt, "restore_sessions_revoked", revoked.request_ids,
                  sessions_revoked=True)
    except ProviderError as error:
        if error.retryable and attempt.tries < settings.RESTORE_MAX_TRIES:
            return _retry_later(attempt, error)
        return _fail(attempt, error.kind, error.reason, request_id=error.request_id,
                     connector=connector, subject=subject)
    return _confirm(attempt, connector, subject)


def _take(attempt_id: int) -> tuple[RestoreAttempt, bool] | None:
    """Hold the attempt for this run (a lease): None when it is finished, or
    another worker holds it. True beside it when an earlier run died during
    a call (the provider may hold a credential nobody can deliver)."""
    now = clock.now()
    with transaction.atomic():
        attempt = (RestoreAttempt.objects.select_for_update(of=("self",))
                   .select_related("target", "case").get(pk=attempt_id))
        if not attempt.is_open:
            return None
        if attempt.lease_until is not None and attempt.lease_until > now:
            return None
        if attempt.next_try_at > now:
            return None  # a sweep came before the backoff's own task: that one runs it
        if attempt.case.state != State.RESTORING and not attempt.credential_id:
            attempt.state, attempt.finished_at = Attempt.FAILED, now
            attempt.failure_kind, attempt.failure_reason = "case_closed", (
                f"The case was {attempt.case.get_state_display().lower()} before the provider "
                "was called.")
            attempt.sealed_secret = ""  # nosec B105
            attempt.save()
            record("restore_abandoned", target=attempt.case, actor=None, attempt=attempt.pk,
                   state=attempt.case.state)
            return None
        resumed = attempt.state == Attempt.CALLING
        if attempt.state == Attempt.PENDING:
            attempt.state = Attempt.CALLING
        attempt.tries += 1
        attempt.lease_until = now + timedelta(seconds=settings.RESTORE_LEASE_SECONDS)
        attempt.save(update_fields=["state", "tries", "lease_until"])
    return attempt, resumed


def _remove_unknown(attempt: RestoreAttempt, connector: Connector, subject: Subject) -> None:
    """An earlier run died while creating: a credential the provider made
    then has a value nobody holds. It is deleted before the one creation."""
    for existing in connector.find_temporary_credentials(subject):
        if existing.created_at is None or existing.created_at >= attempt.created_at - \
                timedelta(minutes=5):
            outcome = connector.remove_temporary_credential(subject, existing.id)
            _step(attempt, "restore_lost_credential_removed", outcome.request_ids,
                  credential=existing.id)


def _created(attempt: RestoreAttempt, issued: TemporaryCredential) -> None:
    with transaction.atomic():
        attempt.state = Attempt.CREATED
        attempt.credential_id = issued.id
        attempt.sealed_secret = sealing.seal(issued.secret) if issued.secret else ""
        attempt.credential_expires_at = issued.expires_at
        attempt.single_use = issued.single_use
        attempt.request_ids = [*attempt.request_ids, issued.request_id]
        attempt.save(update_fields=["state", "credential_id", "sealed_secret",
                                    "credential_expires_at", "single_use", "request_ids"])
        record("restore_credential_created", target=attempt.case, actor=None,
               attempt=attempt.pk, provider=attempt.kind, credential=issued.id,
               request_id=issued.request_id, single_use=issued.single_use,
               expires_at=issued.expires_at.isoformat() if issued.expires_at else None)


def _step(attempt: RestoreAttempt, event: str, request_ids: list[str], **fields) -> None:
    """Commit one finished call (its fields on the attempt) and audit it."""
    data = {k: fields.pop(k) for k in ("removed", "credential") if k in fields}
    with transaction.atomic():
        for name, value in fields.items():
            setattr(attempt, name, value)
        attempt.request_ids = [*attempt.request_ids, *request_ids]
        attempt.save(update_fields=[*fields, "request_ids"])
        record(event, target=attempt.case, actor=None, attempt=attempt.pk,
               provider=attempt.kind, request_ids=[r for r in request_ids if r], **data)


def _retry_later(attempt: RestoreAttempt, error: ProviderError) -> Outcome:
    wait = max(error.retry_after or 0, backoff(attempt.tries))
    with transaction.atomic():
        if attempt.state == Attempt.CALLING:
            # The call failed with an answer (or none): the provider is
            # checked again before creating, whatever it was.
            attempt.state = Attempt.CALLING if error.kind == Kind.TIMEOUT else Attempt.PENDING
        attempt.lease_until = None
        attempt.next_try_at = clock.now() + timedelta(seconds=wait)
        attempt.failure_kind, attempt.failure_reason = error.kind, error.reason[:500]
        if error.request_id:
            attempt.request_ids = [*attempt.request_ids, error.request_id]
        attempt.save(update_fields=["state", "lease_until", "next_try_at", "failure_kind",
                                    "failure_reason", "request_ids"])
        record("restore_retry", target=attempt.case, actor=None, attempt=attempt.pk,
               provider=attempt.kind, kind=error.kind, reason=error.reason[:500],
               request_id=error.request_id, retry_in=wait, tries=attempt.tries)
    return Outcome(attempt.state, retry_in=wait)


def _fail(attempt: RestoreAttempt, kind: str, reason: str, *, request_id: str = "",
          connector: Connector | None = None, subject: Subject | None = None) -> Outcome:
    """The hand-off failed for good: a credential it created is deleted
    (nobody will receive it), the case goes back to the agent, open, with
    the reason, and security admins are alerted. The person is told nothing
    was restored only by nothing: no notice claims otherwise."""
    if attempt.credential_id and connector is not None and subject is not None:
        try:
            connector.remove_temporary_credential(subject, attempt.credential_id)
        except ProviderError as also:
            reason = f"{reason} The credential created at the provider could not be deleted " \
                     f"({also.reason})"
    now = clock.now()
    with transaction.atomic():
        case = _lock(attempt.case_id)
        attempt.state, attempt.finished_at, attempt.lease_until = Attempt.FAILED, now, None
        attempt.failure_kind, attempt.failure_reason = kind, reason[:500]
        attempt.sealed_secret = ""  # nosec B105
        if request_id:
            attempt.request_ids = [*attempt.request_ids, request_id]
        attempt.save()
        if case.state == State.RESTORING:
            _move(case, State.APPROVED, now)
        record("restore_failed", target=case, actor=None, attempt=attempt.pk,
               provider=attempt.kind, kind=kind, reason=reason[:500], request_id=request_id)
        alerts.raise_alert(case.identity, Alert.Kind.RESTORE_FAILED,
                           f"Case {case.pk}: restoring access at {attempt.target.name} failed "
                           f"({kind}). {reason}", case=case)
    return Outcome(Attempt.FAILED)


def _dry_run(attempt: RestoreAttempt) -> Outcome:
    """Record the calls the attempt would make, make none, and hand the case
    back: nothing was restored."""
    calls = [f"look up the person {attempt.subject_id}",
             f"create a single-use temporary credential for "
             f"{attempt.lifetime_seconds // 60} minutes"]
    if attempt.remove_old_passkeys:
        calls.append("delete the person's passkeys")
    if attempt.revoke_sessions:
        calls.append("revoke the person's sessions")
    now = clock.now()
    with transaction.atomic():
        case = _lock(attempt.case_id)
        attempt.state, attempt.finished_at, attempt.lease_until = Attempt.DRY_RUN, now, None
        attempt.calls = calls
        attempt.save()
        if case.state == State.RESTORING:
            _move(case, State.APPROVED, now)
        record("restore_dry_run", target=case, actor=None, attempt=attempt.pk,
               provider=attempt.kind, restore_target=attempt.target.name, calls=calls)
    return Outcome(Attempt.DRY_RUN)


def _confirm(attempt: RestoreAttempt, connector: Connector, subject: Subject) -> Outcome:
    """The provider did all it was asked: the case completes and the
    credential goes to the person (a registered channel, the agent's read
    out, or the provider's own email). A case closed meanwhile (cancelled,
    expired) gets nothing: its credential is deleted at the provider."""
    label = connector.label
    now = clock.now()
    with transaction.atomic():
        case = _lock(attempt.case_id)
        if case.state != State.RESTORING:
            closed = case.get_state_display().lower()
            return _fail(attempt, "case_closed", f"The case was {closed} while the provider "
                         "was being called; nothing is delivered.", connector=connector,
                         subject=subject)
        attempt.state, attempt.finished_at, attempt.lease_until = Attempt.CONFIRMED, now, None
        attempt.failure_kind = attempt.failure_reason = ""
        expires = attempt.credential_expires_at
        until = f" until {expires:%Y-%m-%d %H:%M} UTC" if expires else ""
        if attempt.delivery == RestoreAttempt.Delivery.CHANNEL:
            secret = sealing.unseal(attempt.sealed_secret) or ""
            attempt.sealed_secret = ""  # nosec B105
            notices.owe(
                case=case, secret=True, key=f"restore-credential:{attempt.pk}",
                medium=notices.MEDIUM_FOR_CHANNEL[attempt.channel.kind],
                event="restore_credential", identity=case.identity, channel=attempt.channel,
                subject=f"Your {label} temporary access code",
                body=(f"Sign in to {label} with the temporary code {secret}{until}, then "
                      "register a new passkey. It works once."))
        attempt.save()
        _close(case, State.COMPLETED, now, "", watch_until=now + case.rules.watch_period)
        record("restore_confirmed", target=case, actor=None, attempt=attempt.pk,
               provider=attempt.kind, credential=attempt.credential_id,
               delivery=attempt.delivery, request_ids=[r for r in attempt.request_ids if r],
               removed_passkeys=attempt.removed_passkeys,
               sessions_revoked=attempt.sessions_revoked,
               expires_at=expires.isoformat() if expires else None)
        _owe_restored_notices(case, attempt, label)
    return Outcome(Attempt.CONFIRMED)


def _owe_restored_notices(case: RecoveryCase, attempt: RestoreAttempt, label: str) -> None:
    """What was done, in words that claim no more: a way back in was issued
    at the provider; the new passkey is the person's to register."""
    how = {RestoreAttempt.Delivery.CHANNEL: "sent to one of your registered contacts",
           RestoreAttempt.Delivery.READ_OUT: "read out to you by the service desk",
           RestoreAttempt.Delivery.PROVIDER: f"emailed to you by {label}"}[attempt.delivery]
    old = " Your older passkeys there no longer work." if attempt.removed_passkeys else ""
    decision = f"restore-confirmed:{attempt.pk}"
    notices.owe_to_identity(
        case.identity, case=case, decision=decision, event="recovery_restore_issued",
        subject=f"A way back into {label} was issued",
        body=(f"The service desk issued a temporary credential for {label} ({how}) so you can "
              f"register a new passkey.{old} If you did not ask for this, call the service "
              "desk now."))
    relation, other = _relation(case.identity)
    if other is not None:
        name = case.identity.display_name
        notices.owe_to_identity(
            other, case=case, decision=f"{decision}:{relation}",
            event="recovery_restore_issued",
            subject=f"{name}, whose {relation} you are: a way back in was issued",
            body=(f"You are told as {relation} of {name}. After checking their identity, the "
                  f"service desk issued a temporary credential for {label} (case {case.pk}) "
                  "so they can register a new passkey. If you did not expect this, call the "
                  "service desk now."))
    notices.owe_to_monitoring(case=case, decision=decision, event="recovery_restore_issued",
                              identity=case.identity,
                              subject="Recovery restored at the identity provider",
                              body=f"Case {case.pk}: {label} confirmed the temporary credential.")


# --- reading it out --------------------------------------------------------------

@dataclass
class Revealed:
    attempt: RestoreAttempt
    secret: str


@_decision("restore_reveal", actor="agent")
def reveal_credential(case: RecoveryCase, agent: User, *,
                      request: HttpRequest | None = None) -> Revealed:
    """Show the provider's credential of a confirmed read-out attempt once,
    to the agent who holds the case, and wipe it; refused once shown or
    expired."""
    case = _lock(case.pk)
    if case.agent_id != agent.pk:
        raise WorkflowError("Only the agent who holds the case reads the credential out.",
                            reason="not_holder", status=WorkflowError.FORBIDDEN)
    attempt = case.restore_attempts.filter(state=Attempt.CONFIRMED,
                                           delivery=RestoreAttempt.Delivery.READ_OUT).last()
    now = clock.now()
    if attempt is None or not attempt.sealed_secret:
        raise WorkflowError("There is no credential waiting to be read out: it was shown "
                            "once already.", reason="already_shown")
    if attempt.credential_expires_at and attempt.credential_expires_at <= now:
        raise WorkflowError("The provider's credential has expired; issue a new one.",
                            reason="expired")
    secret = sealing.unseal(attempt.sealed_secret)
    shown = RestoreAttempt.objects.filter(pk=attempt.pk, revealed_at__isnull=True).exclude(
        sealed_secret="").update(sealed_secret="", revealed_at=now)  # nosec B106
    if not shown or secret is None:
        raise WorkflowError("There is no credential waiting to be read out: it was shown "
                            "once already.", reason="already_shown")
    record("restore_credential_shown", target=case, actor=agent, request=request,
           attempt=attempt.pk)
    return Revealed(attempt=attempt, secret=secret)
