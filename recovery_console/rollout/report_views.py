"""The readiness report pages: security admins and auditors read them;
nobody changes anything here."""

from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils.text import slugify
from django.views.decorators.http import require_GET

from accounts.roles import Role, staff_required
from audit.exports import csv_text

from .. import clock
from . import reports
from .report_forms import ReadinessForm

readers = staff_required(Role.SECURITY_ADMIN, Role.AUDITOR)
PEOPLE_PER_PAGE = 25


@readers
@require_GET
def readiness(request):
    form = ReadinessForm(request.GET)
    if not form.is_valid():
        return render(request, "rollout/readiness.html", {"form": form}, status=400)
    cohort, now = form.cleaned_data["cohort"], clock.now()
    found = reports.report(cohort, now)
    people = Paginator(reports.privileged_not_ready(reports.population(cohort), now),
                       PEOPLE_PER_PAGE)
    # Known from the counts: spares a second pass over every member.
    people.count = found.counts.privileged - found.counts.privileged_ready
    return render(request, "rollout/readiness.html", {
        "form": form, "report": found, "now": now,
        "people": people.get_page(request.GET.get("page")),
        "cohort_query": f"cohort={cohort.pk}" if cohort else "",
    })


@readers
@require_GET
def readiness_csv(request, chart):
    if chart not in reports.CHARTS:
        raise Http404("No such chart.")
    form = ReadinessForm(request.GET)
    if not form.is_valid():
        return HttpResponse("".join(f"{e}\n" for e in form.errors.get("cohort", [])),
                            status=400, content_type="text/plain; charset=utf-8")
    cohort, now = form.cleaned_data["cohort"], clock.now()
    figure = reports.report(cohort, now).charts[chart]
    response = HttpResponse(csv_text(figure.columns, figure.csv_rows),
                            content_type="text/csv; charset=utf-8")
    population = (slugify(cohort.name) or f"cohort-{cohort.pk}") if cohort else "organisation"
    response["Content-Disposition"] = (
        f'attachment; filename="{figure.slug}-{population}-{reports.utc_day(now)}.csv"')
    return response
