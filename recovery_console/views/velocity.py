"""Velocity limits and the pressure checklist: the agent's
checklist answer, a supervisor's release of a case past its agent's daily
limit, and a security admin's leave for one more recovery of a person."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from accounts.roles import Role, staff_required
from accounts.stepup import last_step_up, step_up_required

from .. import forms, workflow
from ..models import Alert
from .staff import _case_for, _decide, _render_case, _to_queue_if_moved_away
from .watch import _alerts_page


@require_POST
@staff_required(Role.AGENT)
def pressure_checklist(request, pk: int):
    case = _case_for(request, pk)
    form = forms.PressureChecklistForm(request.POST, signs=workflow.pressure_signs())
    if not form.is_valid():
        return _render_case(request, case, bound=("pressure", None, form), status=400)
    data = form.cleaned_data
    done = _decide(request, case, lambda: workflow.answer_pressure_checklist(
        case, request.user, data["signs"], none_observed=data["none_observed"],
        note=data["note"], request=request), bound=("pressure", None, form),
        done="Pressure checklist recorded." if data["none_observed"] else
        "Pressure signs recorded: the case is one tier up and needs a supervisor's approval.")
    return _to_queue_if_moved_away(request, pk, done)


@require_POST
@staff_required(Role.SUPERVISOR)
@step_up_required
def release_issue(request, pk: int):
    case = _case_for(request, pk)
    form = forms.ReasonForm(request.POST, auto_id="id_release_%s")
    if not form.is_valid():
        return _render_case(request, case, bound=("release", None, form), status=400)
    return _decide(request, case, lambda: workflow.release_issue(
        case, request.user, form.cleaned_data["reason"], step_up=last_step_up(request),
        request=request), bound=("release", None, form),
        done="Released: the agent may issue this case's credential.")


@require_POST
@staff_required(Role.SECURITY_ADMIN)
def allow_recovery(request, pk: int):
    alert = get_object_or_404(Alert, pk=pk)
    form = forms.ReasonForm(request.POST, auto_id=f"id_allow{pk}_%s")
    if not form.is_valid():
        messages.error(request, "Give a reason to allow one more recovery.")
        return _alerts_page(request, status=400)
    try:
        workflow.allow_recovery(alert, request.user, form.cleaned_data["reason"],
                                request=request)
    except workflow.WorkflowError as refusal:
        messages.error(request, refusal.message)
        return _alerts_page(request, status=refusal.status)
    messages.success(request, f"One more recovery allowed for {alert.identity.display_name}, "
                              "for the next 24 hours.")
    return redirect("recovery:alerts")
