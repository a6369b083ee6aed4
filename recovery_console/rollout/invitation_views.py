"""The person's side of the passkey rollout (their status page, snooze, the
enrolment link) and a security admin's "Invite" on a wave. Thin: find the
object among what the viewer may see, call one decision, render."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.formats import date_format
from django.views.decorators.http import require_GET, require_POST

from accounts.roles import Role, staff_required
from accounts.views import safe_next, verified_required

from .. import clock
from ..refusal import WorkflowError
from . import invitations, person
from .models import Invitation, Wave


@verified_required
@require_GET
def my_rollout(request):
    return _status_page(request)


def _status_page(request, status: int = 200):
    context = {"status": person.status(request.user, clock.now())}
    return render(request, "rollout/my_rollout.html", context, status=status)


@verified_required
@require_POST
def snooze(request, pk: int):
    invitation = get_object_or_404(Invitation.objects.filter(identity__user=request.user), pk=pk)
    try:
        invitation = invitations.snooze(invitation, request.user, request=request)
    except WorkflowError as refusal:
        messages.error(request, refusal.message)
        return _status_page(request, status=refusal.status)
    until = date_format(timezone.localtime(invitation.snoozed_until), "j F Y")
    messages.success(request, f"Put off: no reminders until {until}.")
    return redirect("invitations:my_rollout")


@require_GET
def enrolment_link(request, token: str):
    """Never instead of signing in: someone not signed in goes to the
    portal's sign-in and comes back here."""
    if not request.user.is_authenticated or not request.user.is_verified():
        return redirect_to_login(request.get_full_path(), "accounts:portal_sign_in")
    link = invitations.find_link(token)
    if link is None:
        return _link_refused(request, "This link is not valid. Check you opened the whole link "
                                      "from your latest email.", 404)
    try:
        invitations.use_link(link, request.user, request=request)
    except WorkflowError as refusal:
        return _link_refused(request, refusal.message, refusal.status)
    messages.info(request, "Name your passkey and create it. Your browser or phone will guide you.")
    return redirect("accounts:passkey_add")


def _link_refused(request, message: str, status: int):
    return render(request, "rollout/link_refused.html", {"message": message}, status=status)


@staff_required(Role.SECURITY_ADMIN)
@require_POST
def invite(request, pk: int):
    wave = get_object_or_404(Wave, pk=pk)
    back = safe_next(request)
    try:
        invited = invitations.invite(wave, request.user, request=request)
    except WorkflowError as refusal:
        return render(request, "rollout/invite_refused.html",
                      {"wave": wave, "message": refusal.message, "back": back},
                      status=refusal.status)
    left_out = invited.already_invited + invited.with_passkey + invited.excepted \
        + invited.without_account
    messages.success(request, f"Invited {invited.invited} member{'s' * (invited.invited != 1)}; "
                              f"{left_out} left out (already invited, a passkey already, "
                              f"excused, or no account).")
    return redirect(back)
