"""After a recovery: the "this wasn't me" link, and the security admins'
pages for alerts and stale channels."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.roles import Role, staff_required

from .. import alerts, channels, workflow
from ..models import Alert

security_admin_only = staff_required(Role.SECURITY_ADMIN)


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


@security_admin_only
@require_GET
def alert_list(request):
    listing = Alert.objects.select_related("identity", "case", "acknowledged_by")[:200]
    return render(request, "recovery/alerts.html", {"alerts": listing})


@security_admin_only
@require_POST
def alert_acknowledge(request, pk):
    alert = get_object_or_404(Alert, pk=pk)
    try:
        alerts.acknowledge(alert, request.user, request=request)
    except workflow.WorkflowError as refusal:
        messages.error(request, refusal.message)
    else:
        messages.success(request, "Alert acknowledged.")
    return redirect("recovery:alerts")


@security_admin_only
@require_http_methods(["GET", "POST"])
def stale_channels(request):
    status = 200
    if request.method == "POST":
        try:
            ids = [int(v) for v in request.POST.getlist("channel")][:1000]
            count = channels.revoke_stale(request.user, ids, request=request)
        except ValueError:
            messages.error(request, "The selection was not understood.")
            status = 400
        except workflow.WorkflowError as refusal:
            messages.error(request, refusal.message)
            status = refusal.status
        else:
            messages.success(request, f"{count} channel(s) revoked.")
            return redirect("recovery:stale_channels")
    return render(request, "recovery/stale_channels.html", {
        "channels": channels.stale_channels(), "max_age": channels.strictest_max_age(),
    }, status=status)
