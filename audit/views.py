import csv
from datetime import UTC, timedelta

from django.contrib import messages
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from accounts.roles import Role, staff_required
from recovery_console import selectors
from recovery_console.models import RecoveryCase

from . import dashboard as charts
from .forms import FindingForm, SampleForm
from .models import SampledCase, SamplingReport
from .sampling import SampleRequest, SamplingError, draw_sample, record_finding

auditor_only = staff_required(Role.AUDITOR)


@auditor_only
@require_http_methods(["GET", "POST"])
def reports(request):
    form = SampleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            report = draw_sample(request.user, SampleRequest(
                title=data["title"], period_start=data["period_start"],
                period_end=data["period_end"], sample_size=data["sample_size"],
                sample_rate=data["sample_rate"], strata=tuple(data["strata"]), seed=data["seed"],
                include_open=data["include_open"],
            ), request=request)
        except SamplingError as refusal:
            form.add_error(None, refusal.message)
        else:
            messages.success(request, f"Sample drawn: {report.sampled.count()} cases.")
            return redirect("audit:report", pk=report.pk)
    listing = SamplingReport.objects.select_related("created_by")[:50]
    status = 400 if form.errors else 200
    return render(request, "audit/reports.html", {"form": form, "reports": listing},
                  status=status)


def _report_rows(report):
    return (report.sampled.select_related("case__identity", "case__agent", "finding__auditor")
            .order_by("position"))


@auditor_only
@require_GET
def report(request, pk):
    report = get_object_or_404(SamplingReport, pk=pk)
    return render(request, "audit/report.html", {"report": report, "rows": _report_rows(report)})


@auditor_only
@require_GET
def report_print(request, pk):
    report = get_object_or_404(SamplingReport, pk=pk)
    return render(request, "audit/report_print.html",
                  {"report": report, "rows": _report_rows(report)})


@auditor_only
@require_http_methods(["GET", "POST"])
def sampled_case(request, pk, case_id):
    report = get_object_or_404(SamplingReport, pk=pk)
    sampled = get_object_or_404(SampledCase.objects.select_related("case"), report=report,
                                case_id=case_id)
    form = FindingForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            record_finding(request.user, report, case_id, form.cleaned_data["verdict"],
                           form.cleaned_data["note"], request=request)
        except SamplingError as refusal:
            form.add_error(None, refusal.message)
        else:
            messages.success(request, f"Finding recorded for case {case_id}.")
            return redirect("audit:report", pk=report.pk)
    story = selectors.case_story(sampled.case)
    return render(request, "audit/sampled_case.html",
                  {"report": report, "sampled": sampled, "form": form, **story},
                  status=400 if form.errors else 200)


class _Echo:
    def write(self, value):
        return value


# Column names are what auditors' tooling reads: kept. The *_at columns are
# ISO 8601 in UTC (+00:00), as the report page says beside the link.
CSV_COLUMNS = ["position", "case", "opened_at", "tier", "identity_kind", "agent", "outcome",
               "stratum", "finding", "note", "finding_by", "finding_at"]


def _utc(moment) -> str:
    """CSV times are ISO 8601 in UTC, whatever zone the auditor's pages use."""
    return moment.astimezone(UTC).isoformat()


def _safe(value) -> str:
    """Cells a spreadsheet would run as a formula are quoted."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@auditor_only
@require_GET
def report_csv(request, pk):
    report = get_object_or_404(SamplingReport, pk=pk)
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(CSV_COLUMNS)
        for s in _report_rows(report).iterator(chunk_size=1000):
            finding = getattr(s, "finding", None)
            case = s.case
            yield writer.writerow([_safe(v) for v in (
                s.position, case.pk, _utc(case.opened_at), case.tier,
                case.identity.kind, case.agent.username if case.agent else "", case.state,
                s.stratum, finding.verdict if finding else "", finding.note if finding else "",
                finding.auditor.username if finding else "",
                _utc(finding.recorded_at) if finding else "")])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="sampling-report-{report.pk}.csv"'
    return response


@auditor_only
@require_GET
def dashboard(request):
    today = timezone.now().date()
    start, end = today - timedelta(days=365), today
    numbers = charts.summary(start, end)
    return render(request, "audit/dashboard.html", {
        "start": start, "end": end, "numbers": numbers,
        "month_chart": charts.bars(numbers["by_month"]),
        "tier_chart": charts.bars(numbers["by_tier_kind"]),
        "rate_chart": charts.bars(list(numbers["rates"].items()), unit="%"),
        "states": RecoveryCase.State,
    })
