"""Who holds a case, and what is written on it: notes, hand-overs and
reassignments from the case page, and the queue's bulk actions (give back
one's own cases; a supervisor reassigns several). Each case goes through its
own workflow decision; a bulk action is one decision per case."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.roles import Role, staff_required

from .. import forms, selectors, workflow
from ..models import RecoveryCase
from ..workflow import WorkflowError
from .staff import _case_for, _case_url, _refused, _render_case

# Which form field a refusal is about, by the start of its reason (others:
# the whole form): the note's text, or the colleague chosen.
FIELD_OF_REASON = {"note_": ("note", "text"), "target_": ("to",)}


def _attempt(request: HttpRequest, case: RecoveryCase, name: str, form, decision: Callable,
             *, done: str, then: str) -> HttpResponse:
    """Run one decision from a form of the case page: refused, the page comes
    back with the reason beside the field it is about and the refusal's own
    status; done, ``done`` is said and the browser goes to ``then``."""
    try:
        decision()
    except WorkflowError as refusal:
        fields = next((names for start, names in FIELD_OF_REASON.items()
                       if refusal.reason.startswith(start)), ())
        form.add_error(next((f for f in fields if f in form.fields), None), refusal.message)
        return _refused(request, case, refusal, bound=(name, None, form))
    messages.success(request, done)
    return redirect(then)


@require_POST
@staff_required(Role.AGENT, Role.SUPERVISOR)
def add_note(request, pk: int):
    case = _case_for(request, pk)
    form = forms.NoteForm(request.POST, auto_id="id_note_%s")
    if not form.is_valid():
        return _render_case(request, case, bound=("note", None, form), status=400)
    return _attempt(request, case, "note", form, lambda: workflow.add_note(
        case, request.user, form.cleaned_data["text"], request=request),
        done="Note added.", then=_case_url(case, "notes"))


def _hand_over_form(request, case, name: str):
    return forms.HandOverForm(request.POST, offered=partial(selectors.colleagues, case),
                              auto_id=f"id_{name}_%s")


@require_POST
@staff_required(Role.AGENT)
def hand_over(request, pk: int):
    """Hand over: the agent no longer sees the case, so back to the queue."""
    case = _case_for(request, pk)
    form = _hand_over_form(request, case, "hand_over")
    if not form.is_valid():
        return _render_case(request, case, bound=("hand_over", None, form), status=400)
    to, note = form.cleaned_data["to"], form.cleaned_data["note"]
    return _attempt(request, case, "hand_over", form, lambda: workflow.hand_over(
        case, request.user, to, note, request=request),
        done=f"Case #{case.pk} is handed over to {workflow.staff_name(to)}.",
        then=reverse("recovery:queue"))


@require_POST
@staff_required(Role.SUPERVISOR)
def reassign(request, pk: int):
    case = _case_for(request, pk)
    form = _hand_over_form(request, case, "reassign")
    if not form.is_valid():
        return _render_case(request, case, bound=("reassign", None, form), status=400)
    to, note = form.cleaned_data["to"], form.cleaned_data["note"]
    return _attempt(request, case, "reassign", form, lambda: workflow.reassign(
        case, request.user, to, note, request=request),
        done=f"Case #{case.pk} is reassigned to {workflow.staff_name(to)}.",
        then=_case_url(case))


@require_POST
@staff_required(Role.AGENT)
def give_back_selected(request):
    """An agent gives back several of their cases at once, each through
    ``workflow.unclaim``; those it refuses are named with the reason."""
    form = forms.BulkForm(request.POST)
    if not form.is_valid():
        return _bulk_refused(request, form)
    _each(request, form.cleaned_data["cases"], "given back to the queue",
          lambda case: workflow.unclaim(case, request.user, request=request))
    return redirect(_queue_url(form))


@require_POST
@staff_required(Role.SUPERVISOR)
def reassign_selected(request):
    """A supervisor reassigns several open cases to one agent, with one note,
    each through ``workflow.reassign``."""
    form = forms.BulkReassignForm(request.POST, offered=selectors.colleagues)
    if not form.is_valid():
        return _bulk_refused(request, form)
    to, note = form.cleaned_data["to"], form.cleaned_data["note"]
    _each(request, form.cleaned_data["cases"], f"reassigned to {workflow.staff_name(to)}",
          lambda case: workflow.reassign(case, request.user, to, note, request=request))
    return redirect(_queue_url(form))


def _each(request, ids: list[int], done: str, decide: Callable) -> None:
    """Decide on each case the viewer may see, one transaction each, and say
    which were done and which refused, grouped by reason."""
    found = selectors.visible_cases(request.user, among=ids).select_related("identity") \
        .in_bulk()
    succeeded, refused = [], {}
    for pk in ids:
        if pk not in found:
            refused.setdefault("No such case is open to you.", []).append(pk)
            continue
        try:
            decide(found[pk])
        except WorkflowError as refusal:
            refused.setdefault(refusal.message, []).append(pk)
        else:
            succeeded.append(pk)
    if succeeded:
        messages.success(request, f"{_cases(succeeded)} {done}.")
    for message, pks in refused.items():
        messages.error(request, f"{_cases(pks)} not {done}: {message}")


def _cases(pks: list[int]) -> str:
    numbers = ", ".join(f"#{pk}" for pk in pks)
    return f"Case {numbers}" if len(pks) == 1 else f"{len(pks)} cases ({numbers})"


def _queue_url(form) -> str:
    """The queue as the person left it: its own query, re-encoded."""
    query = QueryDict(form.cleaned_data.get("query") or "").urlencode()
    return reverse("recovery:queue") + (f"?{query}" if query else "")


def _bulk_refused(request, form) -> HttpResponse:
    """Bad input to a bulk action: nothing was done; say why."""
    query = QueryDict(form.data.get("query", "")[:1000]).urlencode()
    return render(request, "recovery/bulk_refused.html", {
        "errors": [error for errors in form.errors.values() for error in errors],
        "back": reverse("recovery:queue") + (f"?{query}" if query else ""),
    }, status=400)
