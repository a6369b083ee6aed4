import csv
from datetime import UTC

from django.contrib import messages
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from accounts.roles import Role, staff_required
from recovery_console import clock, selectors
from recovery_console.rollout import reports as rollout_reports

from . import dashboard as charts
from .exports import csv_text, spreadsheet_safe
from .forms import DashboardRangeForm, FindingFilterForm, FindingForm, SampleForm
from .models import SampledCase, SamplingReport
from .sampling import (
    SampleRequest,
    SamplingError,
    draw_sample,
    record_finding,
    report_rows,
    review_progress,
    sampled_cases,
)

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


@auditor_only
@require_GET
def report(request, pk):
    report = get_object_or_404(SamplingReport, pk=pk)
    progress = review_progress(report)
    form = FindingFilterForm(request.GET, counts=progress)
    rows = report_rows(report, form.cleaned_data["finding"]) if form.is_valid() else None
    return render(request, "audit/report.html",
                  {"report": report, "progress": progress, "form": form, "rows": rows},
                  status=200 if rows is not None else 400)


@auditor_only
@require_GET
def report_print(request, pk):
    report = get_object_or_404(SamplingReport, pk=pk)
    return render(request, "audit/report_print.html",
                  {"report": report, "rows": report_rows(report)})


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


@auditor_only
@require_GET
def report_csv(request, pk):
    report = get_object_or_404(SamplingReport, pk=pk)
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(CSV_COLUMNS)
        for s in sampled_cases(report).iterator(chunk_size=1000):
            finding = getattr(s, "finding", None)
            case = s.case
            yield writer.writerow([spreadsheet_safe(v) for v in (
                s.position, case.pk, _utc(case.opened_at), case.tier,
                case.identity.kind, case.agent.username if case.agent else "", case.state,
                s.stratum, finding.verdict if finding else "", finding.note if finding else "",
                finding.auditor.username if finding else "",
                _utc(finding.recorded_at) if finding else "")])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="sampling-report-{report.pk}.csv"'
    return response


def _dashboard_range(request) -> DashboardRangeForm:
    return DashboardRangeForm(request.GET, today=clock.now().astimezone(UTC).date())


@auditor_only
@require_GET
def dashboard(request):
    form = _dashboard_range(request)
    page = {"form": form, "max_months": charts.MAX_MONTHS, "presets": charts.presets(form.today),
            "rollout": rollout_reports.active_waves(clock.now())}
    if not form.is_valid():
        return render(request, "audit/dashboard.html", page, status=400)
    start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    shown = DashboardRangeForm(today=form.today, initial=form.cleaned_data)  # the days in use
    return render(request, "audit/dashboard.html", {
        **page, "form": shown, "start": start, "end": end, "numbers": charts.summary(start, end),
        "range_query": f"start={start.isoformat()}&end={end.isoformat()}",
    })


@auditor_only
@require_GET
def dashboard_csv(request, chart):
    if chart not in charts.CHARTS:
        raise Http404("No such chart.")
    form = _dashboard_range(request)
    if not form.is_valid():
        return HttpResponse("".join(f"{problem}\n" for problem in form.problems()), status=400,
                            content_type="text/plain; charset=utf-8")
    start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    figure = charts.summary(start, end)["charts"][chart]
    response = HttpResponse(csv_text(figure.columns, figure.csv_rows),
                            content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (f'attachment; filename="{figure.slug}-{start.isoformat()}'
                                       f'-to-{end.isoformat()}.csv"')
    return response
