"""Approval: the holding agent asks for it, and supervisors (security admins
for governance cases) who stepped up approve, until the policy's number of
distinct approvers did, or deny, which closes the case.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.http import HttpRequest

from accounts.models import User
from audit.events import record

from .. import clock, notices
from ..models import Approval, RecoveryCase
from .base import WorkflowError, _close, _decision, _lock, _move, _owe_closing_notices
from .rules import _enforce, _require_reason, may_decide, may_request_approval

State = RecoveryCase.State


@_decision("approval_request", actor="agent")
def request_approval(case: RecoveryCase, agent: User, *,
                     request: HttpRequest | None = None) -> RecoveryCase:
    """The holding agent sends a verified high-risk case to supervisors."""
    case = _lock(case.pk)
    _enforce(may_request_approval(case, agent))
    _move(case, State.AWAITING_APPROVAL, clock.now())
    record("approval_requested", target=case, actor=agent, request=request,
           approvals_required=case.rules.approvals_required)
    return case


def _require_eligible_approver(case: RecoveryCase, approver: User, step_up: dict | None,
                               reason: str, now: datetime) -> None:
    _enforce(may_decide(case, approver))
    _require_reason(reason)
    _require_fresh_step_up(step_up, now)


def _require_fresh_step_up(step_up: dict | None, now: datetime) -> None:
    try:
        at = datetime.fromisoformat(step_up["at"])
        device = str(step_up["device"] or "")
    except (TypeError, KeyError, ValueError):
        at, device = None, ""
    max_age = timedelta(seconds=settings.STEP_UP_MAX_AGE_SECONDS)
    if at is None or not device or not timedelta(0) <= now - at <= max_age:
        raise WorkflowError("Confirm it's you with your passkey or authenticator, then decide.",
                            reason="step_up")


def _record_decision(case: RecoveryCase, approver: User, decision: str, reason: str,
                     step_up: dict | None) -> tuple[RecoveryCase, Approval, datetime]:
    """Lock the case, check the approver may decide on it, and keep their
    decision with the step-up that preceded it."""
    case = _lock(case.pk)
    now = clock.now()
    _require_eligible_approver(case, approver, step_up, reason, now)
    approval = Approval.objects.create(
        case=case, approver=approver, decision=decision, reason=reason.strip(),
        step_up_device=step_up["device"], step_up_at=datetime.fromisoformat(step_up["at"]),
        created_at=now,
    )
    return case, approval, now


@_decision("approval", actor="approver")
def approve(case: RecoveryCase, approver: User, reason: str, *, step_up: dict | None,
            request: HttpRequest | None = None) -> Approval:
    """A supervisor who stepped up approves; the case is approved once the
    policy's number of distinct supervisors did. Never the case's agent, its
    opener, anyone who worked it, or its subject; never twice."""
    case, approval, now = _record_decision(case, approver, Approval.Decision.APPROVE, reason,
                                           step_up)
    given = case.approvals.filter(decision=Approval.Decision.APPROVE).count()
    required = case.rules.approvals_required
    record("approval_given", target=case, actor=approver, request=request,
           approval=approval.pk, given=given, required=required,
           step_up_device=approval.step_up_device, step_up_at=step_up["at"])
    if given >= required:
        _move(case, State.APPROVED, now, approved_at=now)
        record("case_approved", target=case, actor=approver, request=request, by="supervisors",
               approvers=list(case.approvals.values_list("approver_id", flat=True)))
        notices.owe_to_monitoring(
            case=case, decision=f"case-approved:{case.pk}", event="recovery_approved",
            identity=case.identity, subject="High-risk recovery approved",
            body=f"Case {case.pk} ({case.tier}) approved by {given} supervisor(s).")
    return approval


@_decision("denial", actor="approver")
def deny(case: RecoveryCase, approver: User, reason: str, *, step_up: dict | None,
         request: HttpRequest | None = None) -> Approval:
    """A supervisor who stepped up refuses the reset; the case is closed as
    denied and the subject is told on every channel."""
    case, approval, now = _record_decision(case, approver, Approval.Decision.DENY, reason,
                                           step_up)
    _close(case, State.DENIED, now, reason.strip())
    record("case_denied", target=case, actor=approver, request=request, approval=approval.pk,
           step_up_device=approval.step_up_device, step_up_at=step_up["at"])
    _owe_closing_notices(case, "denied", "Your account recovery request was refused",
                         "A supervisor refused the request to recover access to your account. "
                         "If you made it, call the service desk.")
    return approval
