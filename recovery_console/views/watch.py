"""After a recovery: the "this wasn't me" link, and the security admins'
pages for alerts and stale channels."""

from urllib.parse import urlencode

from django.contrib import messages
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.roles import Role, staff_required

from .. import alerts, channels, clock, forms, selectors, workflow
from ..models import Alert

security_admin_only = staff_required(Role.SECURITY_ADMIN)
ALERTS_PER_PAGE = 50
CHANNELS_PER_PAGE = 100
NOT_UNDERSTOOD = "The selection was not understood."


@require_http_methods(["GET", "POST"])
def repudiate(request, token):
    """GET shows what the link does and uses nothing; POST acts."""
    if request.method == "GET":
        return render(request, "recovery/repudiate.html", {"token": token})
    try:
        workflow.repudiate(token, request=request)
    except workflow.WorkflowError as refusal:
        context = {"token": token, "error": refusal.message}
        return render(request, "recovery/repudiate.html", context, status=refusal.status)
    return render(request, "recovery/repudiated.html")


def _chosen(request, name: str) -> list[int] | None:
    """The ids ticked under ``name``; None when one of them is not an id."""
    try:
        return [int(value) for value in request.POST.getlist(name)]
    except ValueError:
        return None


def _kept_query(request, *names: str) -> str:
    """The listing's own parameters (filters, page) from the URL, so a form
    posted from it comes back to the same list."""
    return urlencode({n: request.GET[n] for n in names if request.GET.get(n)})


def _refused(request, form, refusal, field_reasons: dict[str, str]) -> None:
    """Show a refusal next to the field it is about (the field then carries
    aria-invalid and names its error in aria-describedby), or at the top."""
    if refusal.reason in field_reasons:
        form.add_error(field_reasons[refusal.reason], refusal.message)
    else:
        messages.error(request, refusal.message)


@security_admin_only
@require_GET
def alert_list(request):
    return _alerts_page(request)


def _alerts_page(request, *, form=None, chosen=(), status=200):
    filters = forms.AlertFilterForm(request.GET or None)
    given = {k: v for k, v in filters.cleaned_data.items() if v} if filters.is_valid() else {}
    page = selectors.alert_page(selectors.AlertFilters(**given), request.GET.get("page", 1),
                                per_page=ALERTS_PER_PAGE)
    user = request.user
    now = clock.now()
    for alert in page.object_list:  # a velocity refusal may be allowed unless one is live
        alert.may_allow = alert.kind == Alert.Kind.VELOCITY_IDENTITY and not any(
            a.used_at is None and a.expires_at > now for a in alert.allowances.all())
    return render(request, "recovery/alerts.html", {
        "filters": filters, "page": page, "alerts": page.object_list,
        "state": given.get("state", "open"), "filter_query": _kept_query(request, "kind", "state"),
        "query": _kept_query(request, "kind", "state", "page"), "chosen": set(chosen),
        "form": form or forms.AcknowledgeAlertsForm(),
        "at_most": alerts.ACKNOWLEDGE_AT_MOST,
        "may_open_identities": user.is_staff and user.has_perm("accounts.view_identity"),
    }, status=status)


@security_admin_only
@require_POST
def alerts_acknowledge(request):
    form, chosen = forms.AcknowledgeAlertsForm(request.POST), _chosen(request, "alert")
    if chosen is None or not form.is_valid():
        messages.error(request, NOT_UNDERSTOOD)
        return _alerts_page(request, form=form, status=400)
    try:
        done = alerts.acknowledge_many(chosen, request.user, form.cleaned_data["note"],
                                       request=request)
    except workflow.WorkflowError as refusal:
        _refused(request, form, refusal, {"note_too_long": "note"})
        kept = set(chosen) - set(refusal.data.get("already", ()))
        return _alerts_page(request, form=form, chosen=kept, status=refusal.status)
    messages.success(request, f"{len(done)} alert{pluralize(len(done))} acknowledged.")
    query = _kept_query(request, "kind", "state", "page")
    return redirect(reverse("recovery:alerts") + (f"?{query}" if query else ""))


@security_admin_only
@require_http_methods(["GET", "POST"])
def stale_channels(request):
    if request.method == "GET":
        return _stale_page(request)
    form, chosen = forms.RevokeChannelsForm(request.POST), _chosen(request, "channel")
    if chosen is None or not form.is_valid():
        messages.error(request, NOT_UNDERSTOOD)
        return _stale_page(request, form=form, status=400)
    reason = form.cleaned_data["reason"].strip()
    try:
        count = channels.revoke_stale(request.user, chosen, reason, request=request)
    except workflow.WorkflowError as refusal:
        _refused(request, form, refusal, {"reason_required": "reason"})
        return _stale_page(request, form=form, chosen=chosen, status=refusal.status)
    messages.success(request, f"{count} channel{pluralize(count)} revoked. Reason: {reason}")
    query = _kept_query(request, "page")
    return redirect(reverse("recovery:stale_channels") + (f"?{query}" if query else ""))


def _stale_page(request, *, form=None, chosen=(), status=200):
    page = selectors.stale_channel_page(request.GET.get("page", 1), per_page=CHANNELS_PER_PAGE)
    return render(request, "recovery/stale_channels.html", {
        "page": page, "channels": page.object_list, "query": _kept_query(request, "page"),
        "form": form or forms.RevokeChannelsForm(), "chosen": set(chosen),
        "at_most": channels.REVOKE_AT_MOST, "max_age": channels.strictest_max_age(),
        "revocations": selectors.recent_revocations(),
    }, status=status)
