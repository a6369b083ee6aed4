"""Helpers for recovery tests: read what channels received from the outbox
(as a person would), and walk a case through its script."""

from __future__ import annotations

import re

from auditlog.models import LogEntry
from django.utils import timezone

from recovery_console import tasks, workflow
from recovery_console.models import Notice, RecoveryCase, ScriptStep, SelfServiceRequest


def events(name: str):
    return LogEntry.objects.filter(additional_data__event=name)


def refusals(decision: str, reason: str | None = None):
    found = events(f"{decision}_refused")
    return found.filter(additional_data__reason=reason) if reason else found


def resolve_self_service_requests() -> list[str]:
    """What a worker does after each self-service request: the resolution
    task, run here in-process for every request still recorded."""
    return [tasks.resolve_self_service_request(pk)
            for pk in SelfServiceRequest.objects.order_by("pk").values_list("pk", flat=True)]


def step_of(case: RecoveryCase, kind: str) -> ScriptStep:
    return case.script.steps.get(kind=kind)


def channel_of(case: RecoveryCase, kind: str = "phone"):
    return case.identity.channels.get(kind=kind)


def last_notice(event: str) -> Notice:
    return Notice.objects.filter(event=event).order_by("-pk").first()


def code_sent(case: RecoveryCase) -> str:
    body = Notice.objects.filter(event="recovery_channel_code", identity=case.identity) \
        .order_by("-pk").first().body
    return re.search(r"code is (\d{6})", body).group(1)


def attestation_token(case: RecoveryCase) -> str:
    notice = Notice.objects.filter(event="recovery_attestation").order_by("-pk").first()
    return re.search(r"/attest/([\w-]+)/", notice.body).group(1)


def step_up_now(device: str = "otp_totp.totpdevice/1") -> dict:
    return {"device": device, "at": timezone.now().isoformat()}


def pass_code_step(case: RecoveryCase, agent) -> None:
    step = step_of(case, "channel_code")
    workflow.send_channel_code(case, agent, step, channel_of(case))
    workflow.check_channel_code(case, agent, step, code_sent(case))


def no_pressure(case: RecoveryCase, agent) -> None:
    """Answer the pressure checklist the script ends with: none observed."""
    case.refresh_from_db()
    if case.state == "verifying" and workflow.pressure_answer_of(case) is None:
        workflow.answer_pressure_checklist(case, agent, [], none_observed=True)


def verify(case: RecoveryCase, agent) -> RecoveryCase:
    """Pass every required step of the case's script (and answer the
    pressure checklist: none observed)."""
    no_pressure(case, agent)
    for step in case.script.steps.filter(required=True).order_by("position"):
        if step.kind == "channel_code":
            pass_code_step(case, agent)
        elif step.kind == "attestation":
            workflow.request_attestation(case, agent, step)
            workflow.answer_attestation(attestation_token(case), True)
        elif step.kind == "id_document":
            workflow.record_evidence(case, agent, step, document_type="passport",
                                     document_last4="X12Z", note="Photo matches.")
        else:
            workflow.record_evidence(case, agent, step, note="Same voice, confirmed request.")
    case.refresh_from_db()
    return case


def approved(case: RecoveryCase, agent, *supervisors) -> RecoveryCase:
    verify(case, agent)
    if case.rules.approvals_required:
        workflow.request_approval(case, agent)
        for supervisor in supervisors:
            workflow.approve(case, supervisor, "Evidence is complete.", step_up=step_up_now())
    case.refresh_from_db()
    return case


def redeeming(code: str) -> dict:
    """What a browser that can create passkeys posts to redeem a credential
    (static/js/passkey.js vouches for the browser in ``passkeys``)."""
    return {"code": code, "passkeys": "supported"}


def usable_channel(case: RecoveryCase):
    """A channel the case page offers for a code or a credential."""
    from recovery_console.selectors import usable_channels

    return case.identity.channels.get(pk=usable_channels(case)[0])
