"""Verifying the caller: the script's steps in order (channel codes, evidence
an agent records, attestations by a manager, sponsor or owner), the case
verified once every required step passed, and the two ways out of a case
that cannot be verified: ``fail`` and ``escalate``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.http import HttpRequest

from accounts.models import Identity, RecoveryChannel, User
from audit.events import record

from .. import channels, clock, notices, populations, tokens
from ..models import (
    Attestation,
    ChannelCode,
    Evidence,
    PressureAnswer,
    PressureSign,
    RecoveryCase,
    RecoveryPolicy,
    ScriptStep,
    Tier,
)
from .base import (
    WorkflowError,
    _close,
    _decision,
    _lock,
    _move,
    _relation,
    _site_link,
    _void_live_secrets,
)
from .routing import reroute
from .rules import (
    _check_channel,
    _enforce,
    _require_holder,
    _require_reason,
    _require_state,
    may_answer_pressure,
    may_escalate,
    may_fail,
    may_work,
    pressure_answer_of,
    pressure_signs,
)

State = RecoveryCase.State
Kind = ScriptStep.Kind
MAX_CODES_PER_STEP = 5
AGENT_RECORDED_KINDS = (Kind.TOTP, Kind.CALLBACK, Kind.ID_DOCUMENT, Kind.KNOWLEDGE)
DOCUMENT_TYPES = {
    "passport": "Passport",
    "national_id": "National identity card",
    "driving_licence": "Driving licence",
    "residence_permit": "Residence permit",
}


def _require_step(case: RecoveryCase, step: ScriptStep, *kinds: str) -> None:
    """The step belongs to the case's script, is of the right kind, and every
    earlier required step has passed: the script is followed in order."""
    if step.script_id != case.script_id:
        raise WorkflowError("That step is not part of this case's script.", reason="foreign_step")
    if kinds and step.kind not in kinds:
        raise WorkflowError("That action does not fit this step.", reason="wrong_step_kind")
    passed = _passed_step_ids(case)
    for earlier in case.script.steps.filter(position__lt=step.position, required=True):
        if earlier.pk not in passed:
            raise WorkflowError(f"Finish step {earlier.position} ({earlier.title}) first.",
                                reason="step_order", step=step.pk)
    if step.pk in passed:
        raise WorkflowError("This step has already passed.", reason="step_done")


def _passed_step_ids(case: RecoveryCase) -> set[int]:
    return set(case.evidence.filter(result=Evidence.Result.PASSED)
               .values_list("step_id", flat=True))


@_decision("channel_code_send", actor="agent")
def send_channel_code(case: RecoveryCase, agent: User, step: ScriptStep,
                      channel: RecoveryChannel, *,
                      request: HttpRequest | None = None) -> ChannelCode:
    """Send a 6-digit code, valid 10 minutes, to a registered channel of the
    subject (never to an address the caller gives). Replaces an unused one."""
    case = _lock(case.pk)
    _enforce(may_work(case, agent, doing="send a code"))
    _require_step(case, step, Kind.CHANNEL_CODE)
    now = clock.now()
    _check_channel(case, channel, now)
    if case.channel_codes.filter(step=step).count() >= MAX_CODES_PER_STEP:
        raise WorkflowError("Too many codes were sent for this step; escalate the case.",
                            reason="too_many_codes")
    case.channel_codes.filter(step=step).void(now)
    clear = tokens.new_channel_code()
    code = ChannelCode.objects.create(
        case=case, step=step, channel=channel, digest=tokens.digest("channel-code", clear),
        created_at=now, expires_at=now + timedelta(seconds=settings.RECOVERY_CHANNEL_CODE_SECONDS),
    )
    minutes = settings.RECOVERY_CHANNEL_CODE_SECONDS // 60
    notices.owe(
        case=case, secret=True,
        key=f"channel-code:{code.pk}", medium=notices.MEDIUM_FOR_CHANNEL[channel.kind],
        event="recovery_channel_code", identity=case.identity, channel=channel,
        subject="Your service desk verification code",
        body=(f"Your verification code is {clear}. It expires in {minutes} minutes. Read it "
              "only to the service desk agent you are talking to. If you did not ask to "
              "recover your account, do not share it and call the service desk."),
    )
    record("channel_code_sent", target=case, actor=agent, request=request, step=step.pk,
           channel=channel.pk, channel_kind=channel.kind, expires_at=code.expires_at.isoformat())
    return code


@_decision("channel_code_check", actor="agent")
def check_channel_code(case: RecoveryCase, agent: User, step: ScriptStep, code: str, *,
                       request: HttpRequest | None = None) -> Evidence:
    """Check the code the caller reads back. The attempt is counted before
    comparing; a wrong code is failed evidence, five wrong codes kill it."""
    case = _lock(case.pk)
    _enforce(may_work(case, agent, doing="check a code"))
    _require_step(case, step, Kind.CHANNEL_CODE)
    now = clock.now()
    sent = (ChannelCode.objects.select_for_update()
            .live().filter(case=case, step=step).first())
    if sent is None:
        raise WorkflowError("No code is waiting for this step: send one first.",
                            reason="no_code")
    if sent.expires_at <= now:
        raise WorkflowError("The code has expired: send a new one.", reason="code_expired")
    if sent.attempts >= sent.max_attempts:
        raise WorkflowError("Too many wrong codes: send a new one.", reason="code_exhausted")
    sent.attempts += 1
    sent.save(update_fields=["attempts"])
    if tokens.matches("channel-code", code.strip(), sent.digest) and sent.consume(now):
        evidence = _add_evidence(case, step, agent, Evidence.Result.PASSED, now,
                                 channel=sent.channel, note="The caller read back the code.")
    else:
        left = sent.max_attempts - sent.attempts
        evidence = _add_evidence(case, step, agent, Evidence.Result.FAILED, now,
                                 channel=sent.channel,
                                 note=f"Wrong code read back ({left} tries left).")
    _audit_evidence(evidence, request)
    _verify_if_complete(case, agent, now, request)
    return evidence


@_decision("evidence_record", actor="agent")
def record_evidence(case: RecoveryCase, agent: User, step: ScriptStep, *, passed: bool = True,
                    note: str = "", totp_code: str = "", document_type: str = "",
                    document_last4: str = "",
                    request: HttpRequest | None = None) -> Evidence:
    """Record what an agent checked for a totp, callback, id_document or
    knowledge step. A TOTP code is checked through django-otp, not believed;
    a document keeps only its type and last 4 characters; knowledge counts
    only in the low tier, and never alone."""
    case = _lock(case.pk)
    _enforce(may_work(case, agent, doing="record evidence"))
    _require_step(case, step, *AGENT_RECORDED_KINDS)
    if len(note) > Evidence._meta.get_field("note").max_length:
        raise WorkflowError("The note is too long (500 characters at most).", reason="note_length",
                            status=WorkflowError.BAD_REQUEST)
    now = clock.now()
    details, channel = {}, None
    if step.kind == Kind.KNOWLEDGE and case.tier != Tier.LOW:
        raise WorkflowError("Knowledge questions count only for low-risk cases.",
                            reason="knowledge_not_allowed")
    if step.kind == Kind.CALLBACK and not note.strip():
        raise WorkflowError("Say in the note who answered the callback.", reason="note_required",
                            status=WorkflowError.BAD_REQUEST)
    if step.kind == Kind.ID_DOCUMENT:
        last4 = document_last4.strip().upper()
        if document_type not in DOCUMENT_TYPES or not (1 <= len(last4) <= 4 and last4.isalnum()):
            raise WorkflowError("Give the document type and its last 4 characters only.",
                                reason="document_details", status=WorkflowError.BAD_REQUEST)
        details = {"document_type": document_type, "last4": last4}
    if step.kind == Kind.CALLBACK:
        details = {"number": f"***{case.identity.directory_phone[-4:]}"}
    if step.kind == Kind.TOTP:
        channel, passed = _check_totp(case, totp_code, now)
    result = Evidence.Result.PASSED if passed else Evidence.Result.FAILED
    evidence = _add_evidence(case, step, agent, result, now, channel=channel,
                             note=note.strip(), details=details)
    _audit_evidence(evidence, request)
    _verify_if_complete(case, agent, now, request)
    return evidence


def _check_totp(case: RecoveryCase, code: str, now: datetime) -> tuple[RecoveryChannel, bool]:
    channel = (case.identity.channels.select_related("totp_device")
               .filter(kind=RecoveryChannel.Kind.TOTP, revoked_at__isnull=True,
                       totp_device__isnull=False).first())
    if channel is None or channels.unusable_because(channel, case.rules, now) in (
            channels.REVOKED, channels.STALE):
        raise WorkflowError("This person has no usable authenticator on file; use another step.",
                            reason="no_totp")
    device = channel.totp_device
    allowed, _ = device.verify_is_allowed()
    if not allowed:
        raise WorkflowError("Too many wrong authenticator codes; wait and try again.",
                            reason="totp_throttled")
    return channel, bool(device.verify_token(code.strip()))


def _add_evidence(case, step, actor, result, now, **fields) -> Evidence:
    return Evidence.objects.create(case=case, step=step, actor=actor, result=result,
                                   created_at=now, **fields)


def _audit_evidence(evidence: Evidence, request: HttpRequest | None) -> None:
    record("evidence_recorded", target=evidence.case, actor=evidence.actor, request=request,
           evidence=evidence.pk, step=evidence.step_id, kind=evidence.step.kind,
           result=evidence.result, channel=evidence.channel_id,
           attester=evidence.attester_id)


@_decision("attestation_request", actor="agent")
def request_attestation(case: RecoveryCase, agent: User, step: ScriptStep, *,
                        request: HttpRequest | None = None) -> Attestation:
    """Send the manager, sponsor or owner a link on their own registered
    channel, asking them to confirm or refuse the request."""
    case = _lock(case.pk)
    _enforce(may_work(case, agent, doing="ask for an attestation"))
    _require_step(case, step, Kind.ATTESTATION)
    now = clock.now()
    relation, attester = _relation(case.identity)
    if attester is None or not attester.is_active:
        raise WorkflowError(f"No active {relation} is on file for this person; escalate.",
                            reason="no_attester")
    if attester.pk == case.identity.pk or (
            attester.user_id is not None and attester.user_id == case.identity.user_id):
        raise WorkflowError(f"The {relation} on file is the person being recovered: nobody "
                            "attests for themself. Escalate to a security admin.",
                            reason="self_attestation", status=WorkflowError.FORBIDDEN)
    if attester.user_id is not None and attester.user_id == agent.pk:
        raise WorkflowError("The attester must be someone other than you and the subject.",
                            reason="attester_conflict", status=WorkflowError.FORBIDDEN)
    channel = _first_usable_channel(case, attester, now)
    case.attestations.filter(step=step).void(now)
    token = tokens.new_token()
    attestation = Attestation.objects.create(
        case=case, step=step, attester=attester, relation=relation, channel=channel,
        digest=tokens.digest("attestation", token), created_at=now,
        expires_at=now + timedelta(seconds=settings.RECOVERY_ATTESTATION_SECONDS),
    )
    notices.owe(
        case=case,
        secret=True,
        key=f"attestation:{attestation.pk}", medium=notices.MEDIUM_FOR_CHANNEL[channel.kind],
        event="recovery_attestation", identity=attester, channel=channel,
        subject=f"Please confirm a recovery request for {case.identity.display_name}",
        body=(f"As {relation} of {case.identity.display_name}, please confirm or refuse their "
              f"request to recover account access: {_site_link('recovery:attestation', token)}"
              " . If you do not know about this request, refuse it."),
    )
    record("attestation_requested", target=case, actor=agent, request=request, step=step.pk,
           attester=attester.pk, relation=relation, channel=channel.pk)
    return attestation


def _first_usable_channel(case: RecoveryCase, identity: Identity,
                          now: datetime) -> RecoveryChannel:
    for channel in identity.channels.filter(revoked_at__isnull=True,
                                            kind__in=list(notices.MEDIUM_FOR_CHANNEL)):
        try:
            _check_channel(case, channel, now, identity=identity)
        except WorkflowError:
            continue
        return channel
    raise WorkflowError(f"{identity.display_name} has no usable registered channel; escalate.",
                        reason="no_attester_channel")


@_decision("attestation_answer")
def answer_attestation(token: str, confirm: bool, *,
                       request: HttpRequest | None = None) -> Attestation:
    """The attester, holding the link from their own channel, confirms or
    refuses. A refusal fails the case."""
    now = clock.now()
    attestation = (Attestation.objects.select_for_update()
                   .filter(digest=tokens.digest("attestation", token)).first())
    if attestation is None:
        raise WorkflowError("This link is not valid.", reason="unknown_link",
                            status=WorkflowError.NOT_FOUND, target=Attestation)
    case = _lock(attestation.case_id)
    unusable = attestation.unusable_because(now)
    if unusable == "used":
        raise WorkflowError("This request was already answered.", reason="answered",
                            target=case)
    if unusable:
        raise WorkflowError("This link has expired.", reason="expired", target=case)
    if case.state != State.VERIFYING:
        raise WorkflowError("This request is no longer waiting for an answer.", reason="state",
                            target=case)
    attestation.consume(now, decision=(Attestation.Decision.CONFIRM if confirm
                                       else Attestation.Decision.REFUSE))
    evidence = _add_evidence(
        case, attestation.step, attestation.attester.user,
        Evidence.Result.PASSED if confirm else Evidence.Result.FAILED, now,
        attester=attestation.attester, channel=attestation.channel,
        note=f"{attestation.relation.capitalize()} {'confirmed' if confirm else 'refused'} "
             "through the link sent to their registered channel.",
    )
    _audit_evidence(evidence, request)
    if confirm:
        _verify_if_complete(case, None, now, request)
    else:
        _close(case, State.FAILED, now, f"The {attestation.relation} refused the request.")
        record("case_failed", target=case, actor=None, request=request,
               reason="attestation_refused")
        notices.owe_to_monitoring(
            case=case, decision=f"case-failed:{case.pk}", event="recovery_attestation_refused",
            identity=case.identity, subject="Recovery refused by attester",
            body=f"Case {case.pk}: the {attestation.relation} refused the recovery request.",
        )
    return attestation


def _verify_if_complete(case: RecoveryCase, actor: User | None, now: datetime,
                        request: HttpRequest | None) -> None:
    """verifying -> verified once every required step passed (and something
    stronger than knowledge did); straight on to approved when the policy
    needs no supervisor."""
    if case.state != State.VERIFYING:
        return
    passed = _passed_step_ids(case)
    steps = list(case.script.steps.all())
    if any(s.required and s.pk not in passed for s in steps):
        return
    if not any(s.pk in passed and s.kind != Kind.KNOWLEDGE for s in steps):
        return
    if _checklist_missing(case):
        return
    _move(case, State.VERIFIED, now, verified_at=now)
    record("case_verified", target=case, actor=actor, request=request)
    if case.rules.approvals_required == 0:
        _move(case, State.APPROVED, now, approved_at=now)
        record("case_approved", target=case, actor=actor, request=request, by="policy",
               tier=case.tier)


@_decision("case_verify", actor="agent")
def mark_verified(case: RecoveryCase, agent: User, *,
                  request: HttpRequest | None = None) -> RecoveryCase:
    """Mark a case verified; refused unless every required step passed.
    (Recording the last passing evidence does this by itself.)"""
    case = _lock(case.pk)
    _require_holder(case, agent)
    _require_state(case, State.VERIFYING, doing="mark the case verified")
    _verify_if_complete(case, agent, clock.now(), request)
    if case.state == State.VERIFYING and _checklist_missing(case):
        raise WorkflowError("Answer the pressure checklist at the end of the script first.",
                            reason="checklist_missing")
    if case.state == State.VERIFYING:
        raise WorkflowError("Some required steps have not passed yet.", reason="steps_missing")
    return case


def _checklist_missing(case: RecoveryCase) -> bool:
    """The script ends with the pressure checklist: while any sign is asked,
    a case is verified only once its agent answered it."""
    return pressure_answer_of(case) is None and PressureSign.objects.filter(active=True).exists()


@_decision("pressure_checklist", actor="agent")
def answer_pressure_checklist(case: RecoveryCase, agent: User, signs: list[str], *,
                              none_observed: bool = False, note: str = "",
                              request: HttpRequest | None = None) -> PressureAnswer:
    """The holding agent answers the pressure checklist the script ends with:
    the social-engineering signs they observed (codes of active signs), or
    none observed; a note is optional. Answered once, while verifying. Any
    sign raises the tier one step (its policy and script frozen on the case
    again, as ``escalate`` does, codes and links out voided) and requires at
    least one supervisor's approval whatever the tier; the answer is kept as
    evidence and audited with the signs. The case is verified if its steps
    had all passed."""
    case = _lock(case.pk)
    _enforce(may_answer_pressure(case, agent))
    asked = {sign.code: sign for sign in pressure_signs()}
    chosen = list(dict.fromkeys(signs))
    unknown = [code for code in chosen if code not in asked]
    if unknown:
        raise WorkflowError("Tick only signs of the checklist.", reason="unknown_sign",
                            status=WorkflowError.BAD_REQUEST, signs=unknown)
    if bool(chosen) == bool(none_observed):
        raise WorkflowError("Tick the signs you observed, or “none observed” (not both).",
                            reason="checklist_choice", status=WorkflowError.BAD_REQUEST)
    note = note.strip()
    if len(note) > PressureAnswer._meta.get_field("note").max_length:
        raise WorkflowError("The note is too long (500 characters at most).",
                            reason="note_length", status=WorkflowError.BAD_REQUEST)
    now = clock.now()
    ticked = [{"code": code, "label": asked[code].label} for code in chosen]
    answer = PressureAnswer.objects.create(case=case, actor=agent, signs=ticked, note=note,
                                           created_at=now)
    before = case.tier
    if ticked:
        _raise_for_pressure(case, agent, ticked, now, request)
    record("pressure_checklist_answered", target=case, actor=agent, request=request,
           answer=answer.pk, signs=[sign["code"] for sign in ticked],
           labels=[sign["label"] for sign in ticked], note=note, from_tier=before,
           to_tier=case.tier)
    if ticked:
        # One tier up may be past what the case's help-desk team serves.
        reroute(case, agent, "pressure_signs", request=request)
        notices.owe_to_monitoring(
            case=case, decision=f"pressure-signs:{case.pk}", event="recovery_pressure_signs",
            identity=case.identity, subject="Social-engineering signs on a recovery call",
            body=f"Case {case.pk}: the agent observed "
                 f"{'; '.join(sign['label'] for sign in ticked)}. Tier {before} -> {case.tier}; "
                 "a supervisor must approve.")
    if case.agent_id == agent.pk:  # moved to another team, it waits for one of theirs
        _verify_if_complete(case, agent, now, request)
    return answer


def _raise_for_pressure(case: RecoveryCase, agent: User, ticked: list[dict], now: datetime,
                        request: HttpRequest | None) -> None:
    applied = populations.rules_for(case.identity)
    tier = max(Tier.one_up(case.tier), applied.minimum_tier, key=Tier.rank)
    policy = RecoveryPolicy.objects.select_related("script").get(tier=tier)
    snapshot = populations.snapshot_for(applied, policy)
    snapshot["approvals_required"] = max(1, snapshot["approvals_required"])
    script = populations.script_for(applied, policy)
    if script.pk != case.script_id:
        _void_live_secrets(case, now, "pressure_signs", actor=agent, request=request)
    _move(case, case.state, now, tier=tier, policy=policy, policy_snapshot=snapshot,
          script=script, tier_reasons=[
              *case.tier_reasons,
              f"Pressure signs observed by {agent.username}: "
              f"{'; '.join(sign['label'] for sign in ticked)}. One tier up; a supervisor "
              "must approve."])


@_decision("case_fail", actor="actor")
def fail(case: RecoveryCase, actor: User, reason: str, *,
         request: HttpRequest | None = None) -> RecoveryCase:
    """The holding agent ends verification as failed (the caller could not
    prove it), with a reason; a supervisor may too, on a case escalated to
    them. Outstanding codes and links are voided; security monitoring is told."""
    case = _lock(case.pk)
    _enforce(may_fail(case, actor))
    _require_reason(reason, limit=500)
    now = clock.now()
    _close(case, State.FAILED, now, reason.strip())
    record("case_failed", target=case, actor=actor, request=request, reason=reason.strip())
    notices.owe_to_monitoring(
        case=case, decision=f"case-failed:{case.pk}", event="recovery_failed",
        identity=case.identity, subject="Recovery verification failed",
        body=f"Case {case.pk} ({case.tier}): verification failed: {reason.strip()}")
    return case


_STRICTER = {Tier.LOW: Tier.HIGH, Tier.MEDIUM: Tier.HIGH, Tier.HIGH: Tier.RESTRICTED,
             Tier.RESTRICTED: Tier.RESTRICTED}


@_decision("case_escalate", actor="agent")
def escalate(case: RecoveryCase, agent: User, reason: str, *,
             request: HttpRequest | None = None) -> RecoveryCase:
    """The holding agent cannot verify the caller under the case's tier (every
    channel stale or revoked, a step the caller cannot pass) and escalates,
    with a reason. The case moves to a stricter tier, always one a supervisor
    approves (low and medium go to high, high to restricted), whose policy and
    script (with the population rules) are frozen on it again, so the agent
    goes on with the stricter script; codes and links already out are voided.
    It is marked escalated: supervisors see it, with the reason, on their
    approvals page, may fail or cancel it, and approve or deny it once it is
    verified. Security monitoring is told. A restricted case is only marked.
    A case its help-desk team no longer serves at the new tier moves on
    (``routing.reroute``); a holder who may not see it there loses it."""
    case = _lock(case.pk)
    _enforce(may_escalate(case, agent))
    _require_reason(reason, limit=500)
    now = clock.now()
    before = case.tier
    applied = populations.rules_for(case.identity)
    tier = max(_STRICTER[Tier(case.tier)], applied.minimum_tier, key=Tier.rank)
    policy = RecoveryPolicy.objects.select_related("script").get(tier=tier)
    _void_live_secrets(case, now, "case_escalated", actor=agent, request=request)
    _move(case, case.state, now, tier=tier, policy=policy,
          policy_snapshot=populations.snapshot_for(applied, policy),
          script=populations.script_for(applied, policy),
          tier_reasons=[*case.tier_reasons, f"Escalated by {agent.username}: {reason.strip()}"],
          escalated_at=now, escalated_by=agent, escalation_reason=reason.strip())
    record("case_escalated", target=case, actor=agent, request=request, reason=reason.strip(),
           from_tier=before, to_tier=tier, script=case.script_id)
    reroute(case, agent, "escalated", request=request)
    notices.owe_to_monitoring(
        case=case, decision=f"case-escalated:{case.pk}:{tier}", event="recovery_escalated",
        identity=case.identity, subject="Recovery case escalated",
        body=f"Case {case.pk}: escalated from {before} to {tier}: {reason.strip()}")
    return case
