"""The two decisions of an identity verification step: the holding agent
starts it (the provider's link goes to a registered channel of the person,
never to one the caller gives), and the provider's signed callback decides
it. Nothing else records evidence for an ``idv`` step: an agent cannot tick
it (``record_evidence`` refuses the kind)."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest

from accounts.models import RecoveryChannel, User
from audit.events import record

from .. import clock, notices
from ..models import Evidence, RecoveryCase, ScriptStep
from ..workflow.base import WorkflowError, _decision, _lock
from ..workflow.rules import _check_channel, _enforce, may_work
from ..workflow.verification import (
    _add_evidence,
    _audit_evidence,
    _passed_step_ids,
    _require_step,
    _verify_if_complete,
)
from . import config
from .models import IdentityVerification, ProviderEvent
from .providers import PASSED, UNDECIDED, CallbackRefused, ProviderError

Kind = ScriptStep.Kind
MAX_PER_STEP = 3
# The provider's clock and ours differ, and it dates events to the second.
CLOCK_SKEW = timedelta(seconds=60)
NOT_AVAILABLE = ("Identity verification by a provider is not available: no provider is "
                 "configured. Use another step, or escalate the case.")


def subject_for(case: RecoveryCase) -> str:
    """The person's reference at the provider (Persona's reference id: one
    per person, so the provider links their verifications)."""
    return f"recovery-console-identity-{case.identity_id}"


@_decision("idv_start", actor="agent")
def start_identity_verification(case: RecoveryCase, agent: User, step: ScriptStep,
                                channel: RecoveryChannel, *,
                                request: HttpRequest | None = None) -> IdentityVerification:
    """The holding agent starts the provider's document + liveness check for
    an ``idv`` step: the provider opens a verification bound to the person,
    and its link goes to ``channel``, a registered, usable channel of the
    person. A newer start replaces an unanswered one (at most 3 per step)."""
    case = _lock(case.pk)
    _enforce(may_work(case, agent, doing="start an identity verification"))
    _require_step(case, step, Kind.IDENTITY_VERIFICATION)
    provider = config.provider()
    if provider is None:
        raise WorkflowError(NOT_AVAILABLE, reason="idv_not_configured")
    now = clock.now()
    _check_channel(case, channel, now)
    earlier = IdentityVerification.objects.filter(case=case, step=step)
    count = earlier.count()
    if count >= MAX_PER_STEP:
        raise WorkflowError("Too many verifications were started for this step; escalate the "
                            "case.", reason="too_many_verifications")
    earlier.filter(result="", voided_at__isnull=True).update(voided_at=now)
    try:
        opened = provider.start(subject=subject_for(case),
                                idempotency_key=f"case-{case.pk}:step-{step.pk}:{count + 1}")
    except ProviderError as failed:
        raise WorkflowError(f"{failed.reason} Nothing was sent; try again later or use another "
                            "step.", reason="idv_provider_error", provider=provider.provider,
                            kind=failed.kind, status_code=failed.status,
                            request_id=failed.request_id) from failed
    minutes = settings.IDV_VERIFICATION_MINUTES
    verification = IdentityVerification.objects.create(
        case=case, step=step, provider=provider.provider, external_id=opened.verification_id,
        subject=subject_for(case), channel=channel, started_by=agent, started_at=now,
        expires_at=now + timedelta(minutes=minutes))
    notices.owe(
        case=case, secret=True, key=f"idv:{verification.pk}",
        medium=notices.MEDIUM_FOR_CHANNEL[channel.kind], event="recovery_identity_verification",
        identity=case.identity, channel=channel,
        subject="Verify your identity to recover your account",
        body=(f"The service desk asked {provider.label} to check your identity document and "
              f"that you are present, to recover your account: {opened.link} . The link works "
              f"once, for {minutes} minutes. If you did not ask to recover your account, do not "
              "open it and call the service desk."))
    record("idv_started", target=case, actor=agent, request=request, step=step.pk,
           channel=channel.pk, channel_kind=channel.kind, provider=provider.provider,
           verification=opened.verification_id, request_id=opened.request_id,
           expires_at=verification.expires_at.isoformat())
    return verification


@_decision("idv_callback")
def take_callback(body: bytes, headers: Mapping[str, str], *,
                  request: HttpRequest | None = None) -> IdentityVerification | None:
    """The provider reports a verification's result. Taken only when the
    signature matches the shared secret, it was signed within the allowed
    age, it names a verification the console started and still waits for,
    for the same person and template, after it started, and its event was
    never taken before; else refused and nothing changes. Approved records
    passing evidence for the step (and verifies the case when it was the last
    one), declined or failed records failing evidence. An event that decides
    nothing is acknowledged (None)."""
    provider = config.provider()
    if provider is None:
        raise WorkflowError("No identity verification provider is configured.",
                            reason="idv_not_configured", status=WorkflowError.NOT_FOUND,
                            target=IdentityVerification)
    try:
        result = provider.read_callback(body, headers)
    except CallbackRefused as bad:
        raise WorkflowError(bad.message, reason=bad.reason, target=IdentityVerification,
                            status=401 if bad.reason == "bad_signature"
                            else WorkflowError.BAD_REQUEST, provider=provider.provider) from bad
    now = clock.now()
    seen = {"provider": provider.provider, "verification": result.verification_id[:100],
            "event_id": result.event_id[:100]}
    if abs((now - result.signed_at).total_seconds()) > settings.IDV_CALLBACK_MAX_AGE_SECONDS:
        raise WorkflowError("The callback was signed too long ago (or in the future).",
                            reason="stale_callback", status=WorkflowError.BAD_REQUEST,
                            target=IdentityVerification, signed_at=result.signed_at.isoformat(),
                            **seen)
    verification = (IdentityVerification.objects.select_for_update()
                    .filter(provider=provider.provider, external_id=result.verification_id)
                    .first())
    if verification is None:
        raise WorkflowError("The callback names no verification this console started.",
                            reason="unknown_verification", status=WorkflowError.NOT_FOUND,
                            target=IdentityVerification, **seen)
    case = _lock(verification.case_id)
    if not hmac.compare_digest(result.subject.encode(), verification.subject.encode()):
        raise WorkflowError("The callback is about another person than the verification.",
                            reason="subject_mismatch", status=WorkflowError.BAD_REQUEST,
                            target=case, **seen)
    if result.template != provider.template_id:
        raise WorkflowError("The callback's verification used another template than the one "
                            "configured.", reason="template_mismatch",
                            status=WorkflowError.BAD_REQUEST, target=case, **seen)
    if result.outcome == UNDECIDED:
        return None
    _require_waiting(case, verification, result, now, seen)
    try:
        with transaction.atomic():
            ProviderEvent.objects.create(provider=provider.provider, event_id=result.event_id,
                                         verification=verification, received_at=now)
    except IntegrityError:
        raise WorkflowError("This event was already taken.", reason="replayed_event",
                            target=case, **seen) from None
    passed = result.outcome == PASSED
    evidence = _add_evidence(
        case, verification.step, None, Evidence.Result.PASSED if passed else Evidence.Result.FAILED,
        now, channel=verification.channel,
        note=f"{provider.label} {result.status} the document and liveness check "
             f"(verification {result.verification_id}).",
        details={"provider": provider.provider, "verification": result.verification_id,
                 "event": result.event_id, "status": result.status})
    verification.result = evidence.result
    verification.decided_at, verification.decided_by_event = now, result.event_id
    verification.evidence = evidence
    verification.save(update_fields=["result", "decided_at", "decided_by_event", "evidence"])
    _audit_evidence(evidence, request)
    record("idv_result_taken", target=case, request=request, step=verification.step_id,
           result=evidence.result, status=result.status, provider_event=result.event,
           signed_at=result.signed_at.isoformat(), **seen)
    if passed:
        _verify_if_complete(case, None, now, request)
    return verification


def _require_waiting(case: RecoveryCase, verification: IdentityVerification, result,
                     now, seen: dict) -> None:
    """The verification still waits for its result, and this one is its own."""
    if verification.result or ProviderEvent.objects.filter(
            provider=verification.provider, event_id=result.event_id).exists():
        raise WorkflowError("This verification's result was already taken.",
                            reason="replayed_event", target=case, **seen)
    if verification.voided_at is not None:
        raise WorkflowError("A newer verification replaced this one.",
                            reason="verification_replaced", target=case, **seen)
    if verification.expires_at <= now:
        raise WorkflowError("The verification expired before its result came.",
                            reason="verification_expired", target=case, **seen)
    if result.created_at is None or result.created_at < verification.started_at - CLOCK_SKEW:
        raise WorkflowError("The result is older than the verification it claims to decide.",
                            reason="stale_result", status=WorkflowError.BAD_REQUEST,
                            target=case, **seen)
    if case.state != RecoveryCase.State.VERIFYING:
        raise WorkflowError("The case is no longer verifying.", reason="state", target=case,
                            **seen)
    if verification.step.script_id != case.script_id:
        raise WorkflowError("The case's script changed since the verification started.",
                            reason="foreign_step", target=case, **seen)
    if verification.step_id in _passed_step_ids(case):
        raise WorkflowError("This step has already passed.", reason="step_done", target=case,
                            **seen)
