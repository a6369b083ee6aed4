"""Step-up: a fresh second-factor check before a sensitive action.

Signing in counts as a check; so does the step-up page (TOTP code or passkey).
A protected view whose viewer's last check is older than STEP_UP_MAX_AGE
sends them to the step-up page, which brings them back (safe ``next`` only).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp.models import Device

STEP_UP_AT = "step_up_at"
STEP_UP_DEVICE = "step_up_device"
SIGNED_IN_AT = "signed_in_at"


def mark_signed_in(request: HttpRequest, device: Device) -> None:
    request.session[SIGNED_IN_AT] = timezone.now().isoformat()
    mark_stepped_up(request, device)


def mark_stepped_up(request: HttpRequest, device: Device) -> None:
    """Record a fresh check with ``device``; a new session key goes with it."""
    request.session.cycle_key()
    request.session[STEP_UP_AT] = timezone.now().isoformat()
    request.session[STEP_UP_DEVICE] = device.persistent_id


def last_step_up(request: HttpRequest) -> dict | None:
    """The last check of this session: {"device": persistent id, "at": iso time}."""
    at = request.session.get(STEP_UP_AT)
    if not at:
        return None
    return {"device": request.session.get(STEP_UP_DEVICE), "at": at}


def is_fresh(request: HttpRequest) -> bool:
    last = last_step_up(request)
    if last is None:
        return False
    age = timezone.now() - datetime.fromisoformat(last["at"])
    return timedelta(0) <= age <= timedelta(seconds=settings.STEP_UP_MAX_AGE_SECONDS)


def step_up_required(view: Callable) -> Callable:
    """Ask for a fresh passkey or TOTP check before running ``view``.

    A GET comes back to the same address afterwards. A POST is never replayed:
    it comes back to the page the form was on (its same-site Referer)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated or not request.user.is_verified():
            return redirect_to_login(request.get_full_path())
        if is_fresh(request):
            return view(request, *args, **kwargs)
        back = request.get_full_path()
        if request.method != "GET":
            back = _same_site_referer(request) or "/"
            messages.info(request, "Confirm it's you, then submit the form again.")
        return redirect(f"{reverse('accounts:step_up')}?{urlencode({'next': back})}")

    return wrapped


def _same_site_referer(request: HttpRequest) -> str | None:
    referer = request.headers.get("Referer", "")
    if referer and url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return referer
    return None
