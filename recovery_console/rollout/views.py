"""The security admins' rollout pages: cohorts, plans and their waves.
Thin: parse, call one ``rollout.workflow`` decision, render or redirect."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.roles import Role, staff_required

from .. import clock
from ..refusal import WorkflowError
from . import forms, selectors, workflow
from .models import Cohort, RolloutPlan, Wave, WaveException

security_admin_only = staff_required(Role.SECURITY_ADMIN)


def _refused(request, refusal: WorkflowError, form=None, fields: dict | None = None) -> None:
    """A refusal under the field it is about, or at the top of the page."""
    if form is not None and refusal.reason in (fields or {}):
        form.add_error(fields[refusal.reason], refusal.message)
    else:
        messages.error(request, refusal.message)


# --- cohorts -------------------------------------------------------------------------

@security_admin_only
@require_GET
def cohort_list(request):
    return render(request, "rollout/cohorts.html", {"cohorts": selectors.cohorts()})


@security_admin_only
@require_http_methods(["GET", "POST"])
def cohort_edit(request, pk: int | None = None):
    """GET shows the form; POST with "preview" shows who the rule takes in
    and saves nothing; any other POST saves."""
    cohort = get_object_or_404(Cohort, pk=pk) if pk else None
    form = forms.CohortForm(request.POST or None, instance=cohort)
    preview, status = None, 200
    if request.method == "POST" and form.is_valid():
        if "preview" in request.POST:
            preview = workflow.preview_cohort(form.instance)
        else:
            try:
                saved = workflow.save_cohort(request.user, form.cleaned_data, cohort,
                                             request=request)
            except WorkflowError as refusal:
                _refused(request, refusal)
                status = refusal.status
            else:
                messages.success(request, f"Cohort {saved.name} saved.")
                return redirect("rollout:cohorts")
    elif request.method == "POST":
        status = 400
    return render(request, "rollout/cohort_form.html",
                  {"form": form, "cohort": cohort, "preview": preview}, status=status)


# --- plans ---------------------------------------------------------------------------

@security_admin_only
@require_GET
def plan_list(request):
    return render(request, "rollout/plans.html", {"plans": selectors.plans()})


@security_admin_only
@require_http_methods(["GET", "POST"])
def plan_edit(request, pk: int | None = None):
    plan = get_object_or_404(RolloutPlan, pk=pk) if pk else None
    form = forms.PlanForm(request.POST or None, instance=plan)
    status = 400 if request.method == "POST" else 200
    if request.method == "POST" and form.is_valid():
        try:
            saved = workflow.save_plan(request.user, form.values(), plan, request=request)
        except WorkflowError as refusal:
            _refused(request, refusal)
            status = refusal.status
        else:
            messages.success(request, f"Plan {saved.name} saved.")
            return redirect("rollout:plan", saved.pk)
    return render(request, "rollout/plan_form.html", {"form": form, "plan": plan},
                  status=status)


@security_admin_only
@require_GET
def plan_detail(request, pk: int):
    return _plan_page(request, get_object_or_404(RolloutPlan, pk=pk))


def _plan_page(request, plan: RolloutPlan, *, form=None, status: int = 200):
    return render(request, "rollout/plan.html", {
        "plan": plan, "rows": selectors.plan_waves(plan, clock.now()),
        "form": form or forms.AddWaveForm(plan),
    }, status=status)


@security_admin_only
@require_POST
def wave_add(request, pk: int):
    plan = get_object_or_404(RolloutPlan, pk=pk)
    form = forms.AddWaveForm(plan, request.POST)
    if not form.is_valid():
        return _plan_page(request, plan, form=form, status=400)
    try:
        wave = workflow.add_wave(plan, form.cleaned_data["cohort"], request.user,
                                 request=request)
    except WorkflowError as refusal:
        _refused(request, refusal, form, {"cohort_in_plan": "cohort"})
        return _plan_page(request, plan, form=form, status=refusal.status)
    messages.success(request, f"Wave {wave.position} added: {wave.cohort.name}.")
    return redirect("rollout:plan", plan.pk)


@security_admin_only
@require_POST
def wave_order(request, pk: int):
    """Move one wave a place earlier or later (the whole order is decided)."""
    plan = get_object_or_404(RolloutPlan, pk=pk)
    form = forms.OrderForm(request.POST)
    order = list(plan.waves.order_by("position").values_list("pk", flat=True))
    if not form.is_valid() or form.cleaned_data["wave"] not in order:
        messages.error(request, "The move was not understood.")
        return _plan_page(request, plan, status=400)
    index = order.index(form.cleaned_data["wave"])
    other = index - 1 if form.cleaned_data["direction"] == "earlier" else index + 1
    if 0 <= other < len(order):
        order[index], order[other] = order[other], order[index]
        try:
            workflow.reorder_waves(plan, request.user, order, request=request)
        except WorkflowError as refusal:
            _refused(request, refusal)
            return _plan_page(request, plan, status=refusal.status)
    return redirect("rollout:plan", plan.pk)


# --- a wave --------------------------------------------------------------------------

@security_admin_only
@require_GET
def wave_detail(request, pk: int):
    return _wave_page(request, _wave(pk))


def _wave(pk: int) -> Wave:
    try:
        return selectors.wave(pk)
    except Wave.DoesNotExist as missing:
        raise Http404("No such wave.") from missing


def _wave_page(request, wave: Wave, *, pilot_form=None, exception_form=None,
               status: int = 200):
    """The wave page. Its context (``wave``, ``gate``, ``now``, ...) is what
    the included partials of the invitations, report-only, pause and
    readiness pages read."""
    now = clock.now()
    try:
        page = int(request.GET.get("blockers", 1))
    except ValueError:
        page = 1
    verdict = workflow.gate(wave, now, page=page)
    pilot, pilot_count = selectors.pilot_members(wave)
    return render(request, "rollout/wave.html", {
        "wave": wave, "plan": wave.plan, "gate": verdict, "now": now,
        "moves": workflow.allowed_moves(wave, request.user, now, verdict),
        "pilot": pilot, "pilot_count": pilot_count,
        "exceptions": selectors.exceptions(wave),
        "pilot_form": pilot_form or forms.PilotForm(initial={
            "people": "\n".join(person.directory_id for person in pilot)}),
        "exception_form": exception_form or forms.ExceptionForm(prefix="exception"),
    }, status=status)


@security_admin_only
@require_POST
def wave_move(request, pk: int):
    wave = _wave(pk)
    form = forms.MoveWaveForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a stage to move the wave to.")
        return _wave_page(request, wave, status=400)
    try:
        wave = workflow.move_wave(wave, request.user, form.cleaned_data["to_stage"],
                                  request=request)
    except WorkflowError as refusal:
        _refused(request, refusal)
        return _wave_page(request, wave, status=refusal.status)
    messages.success(request, f"The wave is now in {wave.get_stage_display().lower()}.")
    return redirect("rollout:wave", wave.pk)


@security_admin_only
@require_POST
def wave_pilot(request, pk: int):
    wave = _wave(pk)
    form = forms.PilotForm(request.POST)
    if not form.is_valid():
        return _wave_page(request, wave, pilot_form=form, status=400)
    try:
        workflow.choose_pilot_members(wave, request.user, form.cleaned_data["people"],
                                      request=request)
    except WorkflowError as refusal:
        _refused(request, refusal, form, {"not_member": "people", "too_many": "people"})
        return _wave_page(request, wave, pilot_form=form, status=refusal.status)
    messages.success(request, "Pilot sample saved.")
    return redirect("rollout:wave", wave.pk)


@security_admin_only
@require_POST
def exception_add(request, pk: int):
    wave = _wave(pk)
    form = forms.ExceptionForm(request.POST, prefix="exception")
    if not form.is_valid():
        return _wave_page(request, wave, exception_form=form, status=400)
    data = form.cleaned_data
    try:
        workflow.add_exception(wave, request.user, data["person"], data["stage"],
                               data["owner"], data["reason"], data["expires_at"],
                               request=request)
    except WorkflowError as refusal:
        _refused(request, refusal, form, {
            "not_member": "person", "exception_exists": "person", "reason_required": "reason",
            "reason_length": "reason", "expiry_past": "expires_at",
            "expiry_too_far": "expires_at", "owner_not_staff": "owner"})
        return _wave_page(request, wave, exception_form=form, status=refusal.status)
    messages.success(request, f"{data['person'].display_name} is excused.")
    return redirect("rollout:wave", wave.pk)


@security_admin_only
@require_POST
def exception_end(request, pk: int):
    exception = get_object_or_404(WaveException, pk=pk)
    try:
        workflow.end_exception(exception, request.user, request=request)
    except WorkflowError as refusal:
        _refused(request, refusal)
        return _wave_page(request, _wave(exception.wave_id), status=refusal.status)
    messages.success(request, f"The exception of {exception.identity.display_name} ended.")
    return redirect("rollout:wave", exception.wave_id)
