"""Pages of people outside the desk: the self-service request, the
attester's link, redeeming a recovery credential and enrolling a passkey,
and (development only) the outbox of what each channel received."""

from __future__ import annotations

import re

from django.conf import settings
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import ratelimit, webauthn
from accounts.identifiers import canonical
from accounts.models import Identity

from .. import forms, selectors, tokens, workflow
from ..models import Attestation, RecoveryCase, RecoveryCredential
from ..ops import logs
from ..workflow import WorkflowError

RECOVERY_SESSION_KEY = "recovery_session"
HANDLE = re.compile(r"[A-Za-z0-9_-]{1,64}")  # what tokens.new_handle() makes
TOO_MANY_REDEMPTIONS = ("Too many attempts from your network or with this link. Wait 15 minutes "
                        "and try again, or ask the service desk for help.")


def _requested_identifier(request) -> str | None:
    """Counted in canonical form: case or width variants of one identifier
    are one person asked about."""
    return canonical(request.POST.get("identifier", "").strip()[:254]) or None


@require_http_methods(["GET", "POST"])
@ratelimit.rate_limited(
    ratelimit.SELF_SERVICE, subject=_requested_identifier, target=Identity,
    event="case_open_refused",  # audited like the workflow's own refusals
    refused=lambda request: render(request, "recovery/self_service_sent.html"),
)
def self_service_request(request):
    """The same page and status whether or not an account matches, and
    whether or not the request was over a rate limit; and the same work:
    the request is recorded here and resolved by a worker."""
    form = forms.SelfServiceForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            workflow.request_self_service(form.cleaned_data["identifier"], request=request)
            return render(request, "recovery/self_service_sent.html")
        return render(request, "recovery/self_service.html", {"form": form}, status=400)
    return render(request, "recovery/self_service.html", {"form": form})


@never_cache
@require_http_methods(["GET", "POST"])
def attestation(request, token: str):
    found = Attestation.objects.select_related("case__identity", "attester").filter(
        digest=tokens.digest("attestation", token)).first()
    if found is None:
        raise Http404("This link is not valid.")
    form = forms.AttestationForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                workflow.answer_attestation(token, form.cleaned_data["answer"] == "confirm",
                                            request=request)
            except WorkflowError as refusal:
                form.add_error(None, refusal.message)
                status = refusal.status
            else:
                return render(request, "recovery/attestation_done.html",
                              {"attestation": found, "answer": form.cleaned_data["answer"]})
        else:
            status = 400
    return render(request, "recovery/attestation.html",
                  {"attestation": found, "form": form}, status=status)


def _too_many_redemptions(form_class, template: str):
    """What an over-the-limit redemption sees: its own form, refused (429)."""

    def refused(request, *args, **kwargs):
        form = form_class(request.POST)
        form.is_valid()
        form.add_error(None, TOO_MANY_REDEMPTIONS)
        return render(request, template, {"form": form}, status=429)

    return refused


@never_cache
@require_http_methods(["GET", "POST"])
@ratelimit.rate_limited(ratelimit.REDEEM, subject=lambda request, handle: f"handle:{handle}",
                        refused=_too_many_redemptions(forms.RedeemForm, "recovery/redeem.html"),
                        target=RecoveryCredential)
def redeem(request, handle: str):
    """GET only shows the form (opening the link uses nothing); POST redeems."""
    form = forms.RedeemForm(request.POST or None)
    if request.method == "POST":
        # A handle that cannot exist (a NUL byte, say) is looked up as no handle.
        known = handle if HANDLE.fullmatch(handle) else ""
        return _redeem(request, form, lambda: workflow.redeem(
            known, form.cleaned_data["code"], request=request))
    return render(request, "recovery/redeem.html", {"form": form})


def _read_out_reference(request) -> str | None:
    return tokens.normalise_reference(request.POST.get("reference", "")[:20]) or None


@never_cache
@require_http_methods(["GET", "POST"])
@ratelimit.rate_limited(ratelimit.REDEEM,
                        subject=lambda request: f"reference:{_read_out_reference(request)}",
                        refused=_too_many_redemptions(forms.ReadOutRedeemForm,
                                                      "recovery/redeem_read_out.html"),
                        target=RecoveryCredential)
def redeem_read_out(request):
    """The short fixed address for a credential read out on the phone: the
    person types its reference and the code (the link is too long to say)."""
    form = forms.ReadOutRedeemForm(request.POST or None)
    if request.method == "POST":
        return _redeem(request, form, lambda: workflow.redeem_read_out(
            form.cleaned_data["reference"], form.cleaned_data["code"], request=request),
            template="recovery/redeem_read_out.html")
    return render(request, "recovery/redeem_read_out.html", {"form": form})


def _redeem(request, form, redeem, template="recovery/redeem.html"):
    status = 400  # the form itself is wrong
    if form.is_valid():
        try:
            opened = redeem()
        except WorkflowError as refusal:
            if isinstance(refusal.target, RecoveryCase):
                logs.correlate(request, refusal.target.pk)
            form.add_error(None, refusal.message)
            status = refusal.status
        else:
            logs.correlate(request, opened.session.case_id)
            if request.session.session_key:
                request.session.cycle_key()  # a new key for the new power
            request.session[RECOVERY_SESSION_KEY] = opened.token
            return redirect("recovery:enrol")
    return render(request, template, {"form": form}, status=status)


def _recovery_session(request):
    return workflow.recovery_session_for(request.session.get(RECOVERY_SESSION_KEY))


@never_cache
@require_GET
def enrol(request):
    session = _recovery_session(request)
    if session is None:
        return render(request, "recovery/enrol_unavailable.html", status=403)
    return render(request, "recovery/enrol.html", {"session": session})


@require_POST
def enrol_options(request):
    session = _recovery_session(request)
    if session is None or session.identity.user is None:
        return JsonResponse({"error": "Your recovery session has ended."}, status=403)
    try:
        options = webauthn.registration_options(request, session.identity.user)
    except webauthn.PasskeyError as refusal:
        return JsonResponse({"error": refusal.message}, status=400)
    return HttpResponse(options, content_type="application/json")


@require_POST
def enrol_verify(request):
    """Register the passkey and complete the case with it (all or nothing)."""
    session = _recovery_session(request)
    if session is None or session.identity.user is None:
        return JsonResponse({"error": "Your recovery session has ended."}, status=403)
    if request.content_type != "application/json":
        return JsonResponse({"error": "Send the passkey as JSON."}, status=415)
    def enrol_passkey(user):
        return webauthn.register_passkey(request, user, request.body,
                                         name="Passkey enrolled after recovery")

    try:
        workflow.complete_enrolment(session, enrol_passkey, request=request)
    except WorkflowError as refusal:
        return JsonResponse({"error": refusal.message}, status=refusal.status)
    request.session.pop(RECOVERY_SESSION_KEY, None)
    return JsonResponse({"redirect": reverse("recovery:recovered")})


@require_GET
def recovered(request):
    return render(request, "recovery/recovered.html")


@require_GET
def outbox(request):
    """What each channel received, for demos and browser tests only."""
    if not (settings.DEBUG or settings.DEV_OUTBOX_ENABLED):
        raise Http404
    return render(request, "recovery/outbox.html", {"notices": selectors.outbox()})
