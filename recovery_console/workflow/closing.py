"""How a case ends, besides the stages' own endings (``deny`` in approval,
``fail`` in verification, ``complete`` in credential): ``cancel``,
``expire`` (one case; the bulk expiry is in ``sweep``), ``record_rotation``
(how a service account's governance case ends), ``repudiate`` ("this wasn't
me" after a recovery), and ``void_basis``: when a fact a recovery rests on
changes, what rested on it is voided and its case cancelled.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q
from django.http import HttpRequest

from accounts.models import Identity, PasskeyCredential, RecoveryChannel, User
from audit.events import record

from .. import alerts, clock, notices, tokens
from ..models import (
    Alert,
    Attestation,
    ChannelCode,
    CredentialRotation,
    RecoveryCase,
    RecoveryCredential,
    Repudiation,
)
from .base import WorkflowError, _close, _decision, _end_sessions, _lock, _owe_closing_notices
from .opening import open_case
from .reviews import mark_involvement
from .rules import (
    BASIS_CAUSES,
    OUTSIDE_THE_CASE,
    WHOLE_IDENTITY,
    _enforce,
    _require_reason,
    _require_state,
    may_cancel,
    may_rotate,
)

State = RecoveryCase.State


@_decision("case_cancel", actor="actor")
def cancel(case: RecoveryCase, actor: User, reason: str, *,
           request: HttpRequest | None = None) -> RecoveryCase:
    """The holding agent, or a supervisor, cancels an open case (a duplicate,
    the person found their key). Outstanding secrets are voided."""
    case = _lock(case.pk)
    _enforce(may_cancel(case, actor))
    _require_reason(reason, limit=500)
    now = clock.now()
    voided = _close(case, State.CANCELLED, now, reason.strip(), actor=actor, request=request)
    record("case_cancelled", target=case, actor=actor, request=request, reason=reason.strip())
    if voided:
        _tell_credential_voided(case, "case_cancelled")
    return case


@_decision("case_expire", actor="actor")
def expire(case: RecoveryCase, *, actor: User | None = None,
           request: HttpRequest | None = None) -> RecoveryCase:
    """Close an open case whose deadline passed (the sweep calls this);
    its credentials, codes, links and sessions die with it."""
    case = _lock(case.pk)
    now = clock.now()
    _require_state(case, *RecoveryCase.OPEN_STATES, doing="expire a case")
    if case.deadline > now:
        raise WorkflowError("This case has not reached its deadline.", reason="not_due")
    voided = _close(case, State.EXPIRED, now, "Deadline passed.", actor=actor, request=request)
    record("case_expired", target=case, actor=actor, request=request,
           deadline=case.deadline.isoformat())
    if voided:
        _tell_credential_voided(case, "case_expired")
    return case


def _tell_credential_voided(case: RecoveryCase, cause: str,
                            skip_channel_id: int | None = None) -> None:
    words = BASIS_CAUSES.get(cause, "the recovery case was closed")
    notices.owe_to_identity(
        case.identity, case=case, decision=f"credential-voided:{case.pk}",
        event="recovery_credential_voided", skip_channel_id=skip_channel_id,
        subject="Your recovery credential no longer works",
        body=(f"The recovery credential issued for your account no longer works: {words}. "
              "If you still need access, call the service desk. If you did not ask to "
              "recover your account, tell the service desk now."),
    )
    notices.owe_to_monitoring(
        case=case, decision=f"credential-voided:{case.pk}", event="recovery_credential_voided",
        identity=case.identity, subject="Recovery credential voided",
        body=f"Case {case.pk}: a live recovery credential or session was voided ({cause}).",
    )


@_decision("credential_void", actor="actor")
def void_basis(identity: Identity, cause: str, *, channel: RecoveryChannel | None = None,
               actor: User | None = None, request: HttpRequest | None = None) -> list[int]:
    """A fact outside the case a recovery rests on changed (``cause``, one of
    OUTSIDE_THE_CASE):
    the identity was deactivated, a channel was revoked or changed, a recovery
    was repudiated. Voids what rested on it and cancels its case, audited with
    the cause; returns the cancelled cases' ids. Called by whatever changed
    the fact (recovery_console.basis connects every save of an identity or a
    channel), in the same transaction; nobody's right to change the fact is
    checked here, only its consequence."""
    if cause not in OUTSIDE_THE_CASE:
        raise ValueError(f"not a fact outside the case: {cause!r}")
    return _void_basis(identity.pk, cause, clock.now(), channel_id=channel.pk if channel else None,
                       actor=actor, request=request)


def _void_basis(identity_id: int, cause: str, now: datetime, *,
                channel_id: int | None = None, actor: User | None = None,
                request: HttpRequest | None = None) -> list[int]:
    """Stop every recovery of the identity that rests on the fact that just
    changed: its live credential and session are voided and its case is
    cancelled (a new case starts again from verification); codes and
    attestation links waiting on a changed channel die too. The subject (on
    the channels that remain) and security monitoring are told."""
    if channel_id is not None:
        ChannelCode.objects.filter(channel_id=channel_id).void(now)
        Attestation.objects.filter(channel_id=channel_id).void(now)
    cases = (RecoveryCase.objects.select_for_update(of=("self",)).select_related("identity")
             .filter(identity_id=identity_id, state__in=RecoveryCase.OPEN_STATES).order_by("pk"))
    stopped = []
    for case in cases:
        if cause not in WHOLE_IDENTITY and not _rests_on(case, cause, channel_id, now):
            continue
        reason = f"Recovery stopped: {BASIS_CAUSES[cause]}."
        voided = _close(case, State.CANCELLED, now, reason, cause=cause, actor=actor,
                        request=request)
        record("case_cancelled", target=case, actor=actor, request=request, reason=reason,
               cause=cause)
        if voided:
            _tell_credential_voided(case, cause, skip_channel_id=channel_id)
        stopped.append(case.pk)
    return stopped


def _rests_on(case: RecoveryCase, cause: str, channel_id: int | None, now: datetime) -> bool:
    """Does a live credential or session of ``case`` rest on the changed fact?"""
    live = Q(case=case) & (Q(used_at__isnull=True, voided_at__isnull=True, expires_at__gt=now)
                           | Q(session__used_at__isnull=True, session__voided_at__isnull=True,
                             session__expires_at__gt=now))
    if channel_id is not None:
        live &= Q(channel_id=channel_id)
    return RecoveryCredential.objects.filter(live).exists()


@_decision("case_repudiate")
def repudiate(token: str, *, request: HttpRequest | None = None) -> RecoveryCase:
    """The person says a completed recovery wasn't them (the link sent to
    every channel they had). Freezes the passkey it enrolled, ends every
    session of the account, raises an alert and opens a high-priority case
    (or marks the open one so), and marks every staff member who took part
    in the case for review. Anyone holding the link may: it only ever
    takes access away. Every refusal is a bad request: the link given
    cannot act (whether it never existed is not told apart)."""
    now = clock.now()
    bad_link = WorkflowError.BAD_REQUEST
    repudiation = (Repudiation.objects.select_for_update()
                   .filter(digest=tokens.digest("repudiation", token)).first())
    if repudiation is None:
        raise WorkflowError("This link is not valid.", reason="unknown_link", status=bad_link,
                            target=Repudiation)
    case = repudiation.case
    unusable = repudiation.unusable_because(now)
    if unusable == "used":
        raise WorkflowError("This link was already used: the service desk is on it.",
                            reason="used", status=bad_link, target=case)
    if unusable:
        raise WorkflowError("This link has expired. Call the service desk.", reason="expired",
                            status=bad_link, target=case)
    identity = case.identity
    PasskeyCredential.objects.filter(pk=repudiation.passkey_id, revoked_at__isnull=True).update(
        revoked_at=now, confirmed=False)
    ended = _end_sessions(identity.user) if identity.user else "none"
    # A recovery already handed out rests on nobody having said "not me".
    _void_basis(identity.pk, "repudiated", now, request=request)
    follow_up = (RecoveryCase.objects.select_for_update()
                 .filter(identity=identity, state__in=RecoveryCase.OPEN_STATES).first())
    if follow_up is None:
        follow_up = open_case(identity, source=RecoveryCase.Source.REPUDIATION, request=request)
    else:
        follow_up.high_priority = True
        follow_up.save(update_fields=["high_priority"])
    repudiation.consume(now, follow_up=follow_up)
    record("case_repudiated", target=case, actor=None, request=request,
           passkey=repudiation.passkey_id, sessions_ended=ended, follow_up=follow_up.pk)
    # Whoever let it happen is looked at again (and their cases over-sampled).
    marked = mark_involvement(case, now, request=request)
    alerts.raise_alert(identity, Alert.Kind.REPUDIATED,
                       f"The recovery of case {case.pk} was repudiated; its passkey is frozen, "
                       f"case {follow_up.pk} is high priority and {len(marked)} staff "
                       f"member{'s are' if len(marked) != 1 else ' is'} marked for review.",
                       case=case, request=request)
    return follow_up


@_decision("rotation_record", actor="agent")
def record_rotation(case: RecoveryCase, agent: User, reference: str, note: str = "", *,
                    request: HttpRequest | None = None) -> CredentialRotation:
    """How a service account's governance case ends: the agent holding it
    records that the account's credential was rotated (after the owner's
    attestation and a security admin's approval). Completes the case and
    tells the owner and security monitoring."""
    case = _lock(case.pk)
    _enforce(may_rotate(case, agent))
    reference, note = reference.strip(), note.strip()
    if not reference or len(reference) > 100 or len(note) > 500:
        raise WorkflowError("Give the change ticket or vault reference (at most 100 characters)"
                            " and a note of at most 500.", reason="bad_reference",
                            status=WorkflowError.BAD_REQUEST)
    now = clock.now()
    rotation = CredentialRotation.objects.create(case=case, performed_by=agent,
                                                 reference=reference, note=note, rotated_at=now)
    _close(case, State.COMPLETED, now, "", watch_until=now + case.rules.watch_period)
    record("rotation_recorded", target=case, actor=agent, request=request,
           rotation=rotation.pk, reference=reference)
    _owe_closing_notices(case, "rotated", "A service account credential was rotated",
                         f"The credential of {case.identity.display_name} was rotated "
                         f"(reference {reference}) after a governance case.")
    return rotation
