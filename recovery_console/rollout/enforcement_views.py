"""Pages of the rollout's enforcement: the portal's sign-in without a
passkey, a wave's would-be refusals, and a paused wave's resume."""

from __future__ import annotations

import csv
from datetime import UTC

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from accounts.auth import SignInRefused
from accounts.roles import Role, staff_required
from accounts.views import safe_next
from audit.exports import spreadsheet_safe

from ..refusal import WorkflowError
from . import enforcement
from .enforcement_forms import PortalPasswordSignInForm, ResumeWaveForm
from .models import Wave

READERS = (Role.SECURITY_ADMIN, Role.AUDITOR)
PER_PAGE = 50


@require_http_methods(["GET", "POST"])
def password_sign_in(request):
    form = PortalPasswordSignInForm(request.POST or None)
    refusal, status = None, 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                enforcement.sign_in_without_passkey(request, **form.cleaned_data)
            except SignInRefused as refused:
                form.add_error(None, refused.message)
            except WorkflowError as refused:
                refusal, status = refused, refused.status
            else:
                return redirect(safe_next(request, reverse("accounts:passkeys")))
    context = {"form": form, "refusal": refusal, "next": safe_next(request, "")}
    return render(request, "rollout/password_sign_in.html", context, status=status)


def _wave(pk: int) -> Wave:
    return get_object_or_404(Wave.objects.select_related("plan", "cohort"), pk=pk)


@staff_required(*READERS)
@require_GET
def would_refuse_list(request, pk: int):
    wave = _wave(pk)
    page = Paginator(enforcement.would_refuse(wave), PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "rollout/would_refuse.html", {"wave": wave, "page": page})


class _Echo:
    def write(self, value):
        return value


@staff_required(*READERS)
@require_GET
def would_refuse_csv(request, pk: int):
    """Every would-be refusal of the wave, streamed (times ISO 8601, UTC)."""
    wave = _wave(pk)
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(["at", "directory_id", "name", "why"])
        for row in enforcement.would_refuse(wave).iterator(chunk_size=1000):
            yield writer.writerow([spreadsheet_safe(value) for value in (
                row.at.astimezone(UTC).isoformat(), row.identity.directory_id,
                row.identity.display_name, row.get_why_display())])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="wave-{wave.pk}-would-refuse.csv"'
    return response


@staff_required(*READERS)
@require_http_methods(["GET", "POST"])
def wave_pause(request, pk: int):
    wave = _wave(pk)
    # Bound on any POST, even an empty one: the decision answers who may resume.
    form = ResumeWaveForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                enforcement.resume_wave(wave, request.user, form.cleaned_data["note"],
                                        request=request)
            except WorkflowError as refused:
                form.add_error(None, refused.message)
                status = refused.status
            else:
                messages.success(request, f"{wave} resumed.")
                return redirect(safe_next(request, reverse("enforcement:wave_pause",
                                                           args=[wave.pk])))
    return render(request, "rollout/wave_pause.html",
                  {"wave": wave, "resume_form": form, "next": safe_next(request, "")},
                  status=status)
