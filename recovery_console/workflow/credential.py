"""The recovery credential: issued on an approved case (sent to a channel or
read out), redeemed once (by link, or by reference at the read-out
address) for a short recovery session, which completes the case when a
passkey is enrolled in it. A credential whose basis broke is voided on the
spot through ``closing.void_basis``: this module sits above closing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from auditlog.models import LogEntry
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Now
from django.http import HttpRequest

from accounts.models import PasskeyCredential, RecoveryChannel, User
from audit.events import client_address, record

from .. import alerts, clock, notices, schedule, tokens
from ..models import (
    Alert,
    RecoveryCase,
    RecoveryCredential,
    RecoverySession,
    Repudiation,
)
from .base import (
    WorkflowError,
    _close,
    _decision,
    _end_sessions,
    _lock,
    _move,
    _owe_closing_notices,
    _site_link,
)
from .closing import void_basis
from .passkeys import passkey_added
from .rules import (
    OUTSIDE_THE_CASE,
    _basis_refusal,
    _check_channel,
    _enforce,
    _require_state,
    may_issue,
)
from .velocity import alert_agent_velocity

State = RecoveryCase.State


REDEEM_REFUSED = "This recovery credential cannot be used. Ask the service desk for a new one."


def _redeem_refused(reason: str, target, message: str = REDEEM_REFUSED,
                    **data) -> WorkflowError:
    """A redemption refused: whatever the cause, the holder reads the same
    words as a bad request (what they gave cannot be used), so nobody learns
    from outside whether a link exists, was used or was voided; the reason
    goes to the audit."""
    return WorkflowError(message, reason=reason, status=WorkflowError.BAD_REQUEST,
                         target=target, **data)


@dataclass
class IssuedCredential:
    credential: RecoveryCredential
    code: str  # shown once, to be read out; never stored ("" for a replay)
    link: str
    replayed: bool = False  # the same issue form again: nothing was issued


@dataclass
class OpenedSession:
    session: RecoverySession
    token: str  # kept only in the redeemer's browser session


@_decision("credential_issue", actor="agent")
def issue_credential(case: RecoveryCase, agent: User, *, channel: RecoveryChannel | None = None,
                     key: str | None = None, replaces: int | None = None,
                     request: HttpRequest | None = None) -> IssuedCredential:
    """Issue the recovery credential of an approved case: sent to a registered
    channel, or (no channel) shown once for the agent to read out. Voids the
    previous one; every channel is told a credential was issued.

    ``key`` is the issue form's one-time key, stored on the credential
    (unique per case): the same form posted again (a double click, a resent
    POST) issues and voids nothing and returns the credential it issued the
    first time, without its code (``replayed``). ``replaces`` is the live
    credential the page showed (0: none): if another is live now, nothing is
    issued, so a page left open elsewhere never voids a credential just read
    out. The holding agent only; past their team's daily limit, only on a
    case a supervisor released (``rules.may_issue``); above a norm, security
    is alerted (``velocity.alert_agent_velocity``)."""
    case = _lock(case.pk)
    _enforce(may_issue(case, agent))
    if key:
        earlier = case.credentials.filter(issue_key=key).first()
        if earlier is not None:
            return IssuedCredential(credential=earlier, code="", replayed=True,
                                    link=_site_link("recovery:redeem", earlier.handle))
    live = case.credentials.live().first()
    if replaces is not None and replaces != (live.pk if live else 0):
        raise WorkflowError(
            "A recovery credential was issued on this case since you opened the page; nothing "
            "was issued now. Look at the case again before issuing another.",
            reason="stale_form", live=live.pk if live else None)
    now = clock.now()
    if channel is not None:
        _check_channel(case, channel, now)
    case.credentials.void(now)
    rules = case.rules
    code, handle = tokens.new_credential_code(), tokens.new_handle()
    lifetime = min(rules.credential_lifetime, timedelta(hours=24))
    credential = RecoveryCredential.objects.create(
        case=case, identity=case.identity, handle=handle,
        reference=None if channel else _unused_reference(),
        digest=tokens.digest("recovery-credential", code), issued_by=agent,
        delivery=(RecoveryCredential.Delivery.CHANNEL if channel
                  else RecoveryCredential.Delivery.READ_OUT),
        channel=channel, created_at=now, expires_at=now + lifetime,
        channel_fingerprint=tokens.channel_fingerprint(
            channel.kind, channel.address, channel.totp_device_id) if channel else "",
        max_attempts=rules.max_redemption_attempts, issue_key=key or "",
    )
    link = _site_link("recovery:redeem", handle)
    if channel is not None:
        notices.owe(
            case=case,
            secret=True,
            key=f"credential:{credential.pk}", medium=notices.MEDIUM_FOR_CHANNEL[channel.kind],
            event="recovery_credential", identity=case.identity, channel=channel,
            subject="Your account recovery link",
            body=(f"Open {link} and enter the code {code} to enrol a new passkey. It works once, "
                  f"for {int(lifetime.total_seconds() // 60)} minutes."),
        )
    notices.owe_to_identity(
        case.identity, case=case, decision=f"credential-issued:{credential.pk}",
        event="recovery_credential_issued", subject="A recovery credential was issued",
        body=("The service desk issued a credential to recover your account. If you did not "
              "ask for this, call the service desk now."),
    )
    _move(case, State.CREDENTIAL_ISSUED, now)
    schedule.expire_case_at(case.pk, credential.expires_at)
    record("credential_issued", target=case, actor=agent, request=request,
           credential=credential.pk, delivery=credential.delivery,
           channel=channel.pk if channel else None, expires_at=credential.expires_at.isoformat())
    alert_agent_velocity(case, agent, now, request)
    return IssuedCredential(credential=credential, code=code, link=link)


def _unused_reference() -> str:
    while True:
        reference = tokens.new_reference()
        if not RecoveryCredential.objects.filter(reference=reference).exists():
            return reference


def read_out_address() -> str:
    """The short fixed address a person types after a phone call, as said aloud."""
    return _site_link("recovery:redeem_read_out").split("://", 1)[-1].rstrip("/")


def redeem(handle: str, code: str, *, request: HttpRequest | None = None) -> OpenedSession:
    """Redeem a recovery credential (anyone holding its link and code).

    The attempt is counted and committed before the code is compared; the
    credential is then consumed by a conditional UPDATE so exactly one of
    two concurrent redemptions wins, and only while the facts it rests on
    still hold (``_basis_refusal``: a broken one is voided on the spot).
    Opens a short recovery session whose only power is enrolling a passkey."""
    return _redeem(Q(handle=handle), code, request)


def redeem_read_out(reference: str, code: str, *,
                    request: HttpRequest | None = None) -> OpenedSession:
    """Redeem a credential the agent read out on the phone: the person types
    its short reference and the code at one fixed address. Same code, lifetime,
    attempt limit and single use as a link."""
    reference = tokens.normalise_reference(reference)
    return _redeem(Q(reference=reference, delivery=RecoveryCredential.Delivery.READ_OUT)
                   if reference else Q(pk__in=[]), code, request)


def _redeem(lookup: Q, code: str, request: HttpRequest | None) -> OpenedSession:
    now = clock.now()
    credential = _count_redemption(lookup, now, request=request)
    try:
        return _consume_credential(credential, code, now, request=request)
    except WorkflowError as refusal:
        if refusal.reason in OUTSIDE_THE_CASE:
            void_basis(credential.identity, refusal.reason, channel=credential.channel,
                       request=request)
        raise


def _count_redemption(lookup: Q, now: datetime, *,
                      request: HttpRequest | None = None) -> RecoveryCredential:
    """Count the attempt, committed on its own, before anything is compared:
    one conditional UPDATE (it holds the limit and the deadline in SQL, even
    against concurrent attempts) that returns the credential it counted."""
    counted = RecoveryCredential.objects.live(now).filter(
        lookup, attempts__lt=F("max_attempts"),
    ).filter(expires_at__gt=Now()).update_returning(attempts=F("attempts") + 1)
    if not counted:
        _refuse_uncounted(lookup, now, request=request)
    return counted[0]


@_decision("credential_redeem")
def _refuse_uncounted(lookup: Q, now: datetime, *,
                      request: HttpRequest | None = None) -> None:
    """Why an attempt could not be counted (audited, as every refusal)."""
    credential = RecoveryCredential.objects.filter(lookup).first()
    if credential is None:
        raise _redeem_refused("unknown", RecoveryCredential)
    why = credential.unusable_because(now) or "too_many_attempts"
    raise _redeem_refused(why, credential.case, credential=credential.pk)


@_decision("credential_redeem")
def _consume_credential(credential: RecoveryCredential, code: str, now: datetime, *,
                        request: HttpRequest | None = None) -> OpenedSession:
    if not tokens.matches("recovery-credential", tokens.normalise_credential_code(code),
                          credential.digest):
        left = credential.max_attempts - credential.attempts
        raise _redeem_refused(
            "wrong_code", credential.case, credential=credential.pk,
            message=f"The code does not match. {left} {'try' if left == 1 else 'tries'} left.")
    case = _lock(credential.case_id)
    # The deadline holds by the application's clock and the database's alike.
    if not credential.consume(now, database_clock=True):
        raise _redeem_refused("used", case, credential=credential.pk)
    broken = _basis_refusal(case, credential, now)
    if broken:
        raise _redeem_refused(broken, case, credential=credential.pk)
    token = tokens.new_token()
    session = RecoverySession.objects.create(
        case=case, identity=case.identity, credential=credential,
        digest=tokens.digest("recovery-session", token), created_at=now,
        expires_at=now + timedelta(seconds=settings.RECOVERY_SESSION_SECONDS),
    )
    schedule.expire_case_at(case.pk, session.expires_at)
    record("credential_redeemed", target=case, actor=None, request=request,
           credential=credential.pk, session=session.pk)
    _alert_if_new_network(case, request)
    notices.owe_to_monitoring(
        case=case,
        decision=f"credential-redeemed:{credential.pk}", event="recovery_credential_redeemed",
        identity=case.identity, subject="Recovery credential redeemed",
        body=f"Case {case.pk}: the recovery credential was redeemed.", once=True,
    )
    return OpenedSession(session=session, token=token)


def recovery_session_for(token: str | None) -> RecoverySession | None:
    """The live recovery session a browser holds, if any, and only while the
    facts its credential rested on hold (a broken one is voided now)."""
    if not token:
        return None
    now = clock.now()
    session = (RecoverySession.objects
               .select_related("case__identity", "identity__user", "credential__channel")
               .live(now).filter(digest=tokens.digest("recovery-session", token))
               .filter(expires_at__gt=Now()).first())
    if session is None:
        return None
    broken = _basis_refusal(session.case, session.credential, now)
    if broken in OUTSIDE_THE_CASE:
        void_basis(session.identity, broken, channel=session.credential.channel)
    return None if broken else session


@_decision("case_complete")
def complete(recovery_session: RecoverySession, passkey: PasskeyCredential, *,
             request: HttpRequest | None = None) -> RecoveryCase:
    """Enrolling a passkey in a live recovery session completes the case:
    old passkeys are revoked (per policy), every other session of the person
    ends, and the subject, their manager/sponsor/owner and monitoring are told."""
    now = clock.now()
    session = (RecoverySession.objects.select_for_update(of=("self",))
               .select_related("credential").get(pk=recovery_session.pk))
    case = _lock(session.case_id)
    if session.unusable_because(now):
        raise WorkflowError("This recovery session has ended. Ask the service desk for a new "
                            "recovery credential.", reason="session_ended", target=case)
    user = case.identity.user
    if user is None or passkey.user_id != user.pk:
        raise WorkflowError("The passkey does not belong to the account being recovered.",
                            reason="foreign_passkey", target=case)
    _require_state(case, State.CREDENTIAL_ISSUED, doing="complete the recovery")
    broken = _basis_refusal(case, session.credential, now)
    if broken:
        raise WorkflowError("This recovery can no longer be completed. Ask the service desk "
                            "for help.", reason=broken, target=case)
    session.consume(now)
    revoked = []
    if case.rules.revoke_old_passkeys:
        for old in PasskeyCredential.objects.filter(user=user, revoked_at__isnull=True).exclude(
                pk=passkey.pk):
            old.revoked_at, old.confirmed = now, False
            old.save(update_fields=["revoked_at", "confirmed"])
            revoked.append(old.pk)
    ended = _end_sessions(user)
    _close(case, State.COMPLETED, now, "", watch_until=now + case.rules.watch_period)
    record("case_completed", target=case, actor=None, request=request, passkey=passkey.pk,
           revoked_passkeys=revoked, sessions_ended=ended)
    not_me = tokens.new_token()
    Repudiation.objects.create(case=case, passkey=passkey, created_at=now,
                               digest=tokens.digest("repudiation", not_me),
                               expires_at=now + max(case.rules.watch_period, timedelta(days=7)))
    _owe_closing_notices(
        case, "completed", "Your account access was recovered",
        "Access to your account was recovered and a new passkey was enrolled"
        + (f"; {len(revoked)} older passkey(s) no longer work" if revoked else "")
        + ". If this was not you, call the service desk immediately.",
        subject_only=f"\nThis wasn't me: {_site_link('recovery:repudiate', not_me)}",
    )
    return case


def complete_enrolment(recovery_session: RecoverySession,
                       enrol: Callable[[User], PasskeyCredential], *,
                       request: HttpRequest | None = None) -> RecoveryCase:
    """Enrol a passkey (``enrol`` runs the WebAuthn ceremony for the user and
    stores the passkey; what a new passkey owes, ``passkey_added``, follows
    here) and complete the case with it, all or nothing: a refused completion
    leaves no passkey behind. The refusal, of either part, is audited after
    rollback and raised as a WorkflowError (a refused ceremony as a bad
    request, reason ``passkey_<its reason>``)."""
    from accounts.webauthn import PasskeyError

    try:
        try:
            with transaction.atomic():
                passkey = enrol(recovery_session.identity.user)
                passkey_added(passkey, request=request)
                return complete(recovery_session, passkey, request=request)
        except PasskeyError as ceremony:
            raise WorkflowError(ceremony.message, reason=f"passkey_{ceremony.reason}",
                                status=WorkflowError.BAD_REQUEST,
                                target=recovery_session.case) from ceremony
    except WorkflowError as refusal:
        record("case_complete_refused", target=recovery_session.case, actor=None,
               request=request, reason=refusal.reason, message=refusal.message)
        if refusal.reason in OUTSIDE_THE_CASE:
            void_basis(recovery_session.identity, refusal.reason,
                       channel=recovery_session.credential.channel, request=request)
        raise


def _network(address: str | None) -> str | None:
    if not address:
        return None
    ip = ipaddress.ip_address(address)
    return str(ipaddress.ip_network(f"{address}/{24 if ip.version == 4 else 64}", strict=False))


def _alert_if_new_network(case: RecoveryCase, request: HttpRequest | None) -> None:
    """Inside a watch period, a redemption from a network the earlier
    recovery was not redeemed from is worth a security admin's look."""
    watched = alerts.under_watch(case.identity)
    here = _network(client_address(request))
    if watched is None or here is None:
        return
    before = {_network(a) for a in LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(RecoveryCase),
        object_pk=str(watched.pk), additional_data__event="credential_redeemed",
    ).values_list("remote_addr", flat=True)}
    if here not in before:
        alerts.raise_alert(case.identity, Alert.Kind.NEW_NETWORK,
                           f"Case {case.pk}: recovery credential redeemed from {here}, a network "
                           f"the recovery of case {watched.pk} did not use.",
                           case=watched, request=request)
