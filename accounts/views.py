from functools import wraps
from urllib.parse import unquote

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import DEVICE_ID_SESSION_KEY, match_token
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.events import client_address, record
from recovery_console import workflow

from . import ratelimit, webauthn
from .auth import BLOCKED, SignInRefused, sign_in_staff, sign_in_with_passkey
from .forms import StaffSignInForm, StepUpForm, TimeZoneForm
from .roles import is_staff_member, staff_required
from .stepup import mark_stepped_up, step_up_required
from .timezones import COOKIE_NAME as ZONE_COOKIE
from .timezones import zone_or_none


def safe_next(request, default: str = "/") -> str:
    """The ``next`` target if it stays on this site, else ``default``."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def verified_required(view):
    """Signed in and past a second factor in this session (staff or end user)."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated or not request.user.is_verified():
            return redirect_to_login(request.get_full_path(), "accounts:portal_sign_in")
        return view(request, *args, **kwargs)

    return wrapped


def refused(error: webauthn.PasskeyError) -> JsonResponse:
    return JsonResponse({"error": error.message}, status=400)


@require_http_methods(["GET", "POST"])
def sign_in(request):
    form = StaffSignInForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                sign_in_staff(request, **form.cleaned_data)
            except SignInRefused as refusal:
                form.add_error(None, refusal.message)
            else:
                return redirect(safe_next(request))
        status = 400
    context = {"form": form, "next": safe_next(request, "")}
    return render(request, "accounts/sign_in.html", context, status=status)


def portal_sign_in(request):
    return render(request, "accounts/portal_sign_in.html", {"next": safe_next(request, "")})


@require_POST
def sign_out(request):
    logout(request)
    return redirect("accounts:sign_in")


@require_POST
def passkey_sign_in_options(request):
    return HttpResponse(webauthn.authentication_options(request), content_type="application/json")


@require_POST
def passkey_sign_in_verify(request):
    try:
        passkey = webauthn.authenticate_passkey(request, request.body)
    except webauthn.PasskeyError as error:
        return refused(error)
    user = sign_in_with_passkey(request, passkey)
    # A passkey reported lost (its owner has an open recovery case) that
    # still signs in flags the case: issuing waits for a supervisor.
    workflow.lost_passkey_signed_in(passkey, request=request)
    home = "/" if is_staff_member(user) else reverse("accounts:passkeys")
    return JsonResponse({"redirect": safe_next(request, home)})


@login_required
@require_http_methods(["GET", "POST"])
def step_up(request):
    form = StepUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device, refusal = _check_totp_for_step_up(request, form.cleaned_data["otp_token"])
        if device is not None:
            mark_stepped_up(request, device)
            return redirect(safe_next(request))
        form.add_error("otp_token", refusal)
    has_passkey = request.user.passkeycredential_set.filter(revoked_at__isnull=True).exists()
    context = {"form": form, "next": safe_next(request, ""), "has_passkey": has_passkey}
    return render(request, "accounts/step_up.html", context,
                  status=400 if form.errors else 200)


def _check_totp_for_step_up(request, token: str):
    """The device whose code matched, or None and what to tell the person:
    over the sign-in limit the code is not checked, and they are told to wait
    (not that a code they may have typed right was wrong)."""
    user, address = request.user, client_address(request)
    if not ratelimit.attempt(ratelimit.SIGN_IN, user.username, address):
        record("step_up_refused", target=user, request=request, reason="throttled")
        return None, BLOCKED
    device = match_token(user, token)
    if not isinstance(device, TOTPDevice):
        record("step_up_refused", target=user, request=request, reason="bad_second_factor")
        return None, "That code is not right, or was already used."
    ratelimit.forgive(ratelimit.SIGN_IN, user.username, address)
    record("step_up", target=user, request=request, method="totp")
    return device, None


@login_required
@require_POST
def step_up_passkey_options(request):
    options = webauthn.authentication_options(request, user=request.user)
    return HttpResponse(options, content_type="application/json")


@login_required
@require_POST
def step_up_passkey_verify(request):
    try:
        passkey = webauthn.authenticate_passkey(request, request.body, user=request.user)
    except webauthn.PasskeyError as error:
        return refused(error)
    mark_stepped_up(request, passkey)
    record("step_up", target=request.user, request=request, method="passkey")
    return JsonResponse({"redirect": safe_next(request)})


@staff_required()
@require_http_methods(["GET", "POST"])
def time_zone(request):
    """A staff member's own choice of the zone pages show times in."""
    form = TimeZoneForm(request.POST or None, instance=request.user)
    if form.is_valid():
        form.save(commit=False).save(update_fields=["time_zone"])
        chosen = form.cleaned_data["time_zone"] or "your browser's zone"
        messages.success(request, f"Times now show in {chosen}.")
        return redirect("accounts:time_zone")
    browser_zone = zone_or_none(unquote(request.COOKIES.get(ZONE_COOKIE, "")))
    return render(request, "accounts/time_zone.html",
                  {"form": form, "browser_zone": browser_zone},
                  status=400 if form.errors else 200)


@verified_required
def passkeys(request):
    own = request.user.passkeycredential_set.filter(revoked_at__isnull=True)
    return render(request, "accounts/passkeys.html", {"passkeys": own})


@verified_required
@step_up_required
def passkey_add(request):
    return render(request, "accounts/passkey_add.html")


@verified_required
@step_up_required
@require_POST
def passkey_register_options(request):
    try:
        options = webauthn.registration_options(request, request.user)
    except webauthn.PasskeyError as error:
        return refused(error)
    return HttpResponse(options, content_type="application/json")


@verified_required
@step_up_required
@require_POST
def passkey_register_verify(request):
    try:
        webauthn.register_passkey(
            request, request.user, request.body,
            on_stored=lambda passkey: workflow.passkey_added(passkey, request=request))
    except webauthn.PasskeyError as error:
        return refused(error)
    messages.success(request, "Passkey added. You can now sign in with it.")
    return JsonResponse({"redirect": reverse("accounts:passkeys")})


@verified_required
@step_up_required
@require_POST
def passkey_revoke(request, pk: int):
    passkey = get_object_or_404(request.user.passkeycredential_set, pk=pk, revoked_at__isnull=True)
    try:
        workflow.revoke_passkey(passkey, request.user, request=request)
    except workflow.WorkflowError as refusal:
        messages.error(request, refusal.message)
        return redirect("accounts:passkeys")
    if request.session.get(DEVICE_ID_SESSION_KEY) == passkey.persistent_id:
        logout(request)
        messages.info(request, "You removed the passkey this session used; sign in again.")
        return redirect("accounts:sign_in")
    messages.success(request, f"Passkey “{passkey.name}” removed.")
    return redirect("accounts:passkeys")
