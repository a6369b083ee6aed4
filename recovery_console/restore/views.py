"""The one page of the restore hand-off outside the case page: the
provider's temporary credential, shown once to the agent who reads it out."""

from __future__ import annotations

from django.shortcuts import get_object_or_404, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.roles import Role, staff_required

from .. import selectors
from ..refusal import WorkflowError
from . import workflow


@never_cache
@require_POST
@staff_required(Role.AGENT)
def read_out(request, pk: int):
    """Show the credential once (a POST: a reload shows nothing again)."""
    case = get_object_or_404(selectors.visible_cases(request.user, pk=pk))
    try:
        shown = workflow.reveal_credential(case, request.user, request=request)
    except WorkflowError as refusal:
        return render(request, "restore/read_out.html", {"case": case, "error": refusal.message},
                      status=refusal.status)
    return render(request, "restore/read_out.html", {
        "case": case, "attempt": shown.attempt, "secret": shown.secret,
        "provider": shown.attempt.target.get_kind_display().split(" (")[0]})
