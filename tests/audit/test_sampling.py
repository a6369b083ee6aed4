"""Auditors draw reproducible samples, review each case's whole story,
record findings, and export; they change nothing else."""

import csv
import io
from datetime import date, datetime

import pytest
from auditlog.models import LogEntry
from django.urls import reverse
from django.utils import timezone

from audit.models import Finding, SamplingReport
from audit.sampling import SampleRequest, SamplingError, draw_sample
from recovery_console.models import RecoveryCase
from tests.factories import recovery_case, staff
from tests.sessions import sign_in_client

from .support import history

pytestmark = pytest.mark.django_db
THIS_YEAR = (date(2026, 1, 1), date(2026, 12, 31))


def draw(auditor, **fields):
    wanted = {"title": "Q", "period_start": THIS_YEAR[0], "period_end": THIS_YEAR[1],
              **fields}
    return draw_sample(auditor, SampleRequest(**wanted))


def sampled_ids(report):
    return list(report.sampled.values_list("case_id", flat=True))


def test_the_same_inputs_and_seed_draw_the_same_cases(auditor):
    history()
    first = draw(auditor, sample_size=7, strata=("tier",), seed=42)
    again = draw(auditor, sample_size=7, strata=("tier",), seed=42)
    other = draw(auditor, sample_size=7, strata=("tier",), seed=43)
    assert sampled_ids(first) == sampled_ids(again)
    assert sampled_ids(first) != sampled_ids(other)
    assert first.population == 18


def test_a_stratified_sample_draws_from_every_stratum_in_proportion(auditor):
    history()
    report = draw(auditor, sample_size=9, strata=("tier",), seed=1)
    per_tier = {}
    for s in report.sampled.select_related("case"):
        per_tier[s.case.tier] = per_tier.get(s.case.tier, 0) + 1
    assert per_tier == {"low": 3, "medium": 3, "high": 3}


def test_a_rate_samples_that_share_of_the_population(auditor):
    history()
    from decimal import Decimal

    report = draw(auditor, sample_rate=Decimal("0.5"), seed=5)
    assert report.sampled.count() == 9


@pytest.mark.parametrize("fields, message", [
    ({"sample_size": 19}, "larger than the 18 cases"),
    ({"sample_size": 1, "period_start": date(2025, 1, 1), "period_end": date(2025, 12, 31)},
     "No recovery cases were opened"),
    ({"sample_size": 1, "strata": ("colour",)}, "Unknown strata"),
    ({"sample_size": 1, "period_start": date(2027, 1, 1)}, "must start before"),
])
def test_impossible_samples_are_refused_and_nothing_is_stored(auditor, fields, message):
    history()
    with pytest.raises(SamplingError, match=message):
        draw(auditor, **fields)
    assert not SamplingReport.objects.exists()


def test_only_auditors_draw_samples():
    history(1)
    with pytest.raises(SamplingError, match="Only auditors"):
        draw(staff("agent"), sample_size=1)


def test_an_auditor_draws_a_sample_through_the_page(client, auditor):
    history()
    response = client.post(reverse("audit:reports"), {
        "title": "Q1 review", "period_start": "2026-01-01", "period_end": "2026-03-31",
        "sample_size": "3", "strata": ["tier", "outcome"]})
    report = SamplingReport.objects.get()
    assert response.status_code == 302 and response.url == reverse("audit:report",
                                                                    args=[report.pk])
    page = client.get(response.url).content.decode()
    assert "Q1 review" in page and str(report.seed) in page
    entry = LogEntry.objects.get(additional_data__event="sample_drawn")
    assert entry.actor == auditor and entry.additional_data["seed"] == report.seed


def test_a_sample_bigger_than_the_population_is_a_clear_form_error(client, auditor):
    history(1)
    response = client.post(reverse("audit:reports"), {
        "title": "Too many", "period_start": "2026-01-01", "period_end": "2026-12-31",
        "sample_size": "50"})
    assert response.status_code == 400
    assert "larger than the 3 cases" in response.content.decode()
    assert not SamplingReport.objects.exists()


def test_the_auditor_sees_the_whole_story_and_records_a_finding(client, auditor):
    history()
    report = draw(auditor, sample_size=2, seed=9)
    case_id = sampled_ids(report)[0]
    url = reverse("audit:sampled_case", args=[report.pk, case_id])
    page = client.get(url).content.decode()
    for section in ("Verification steps and evidence", "Approvals", "Recovery credentials",
                    "Notices owed", "Timeline from the audit trail"):
        assert section in page
    response = client.post(url, {"verdict": "issue", "note": "Callback note missing"})
    assert response.status_code == 302
    finding = Finding.objects.get()
    assert (finding.verdict, finding.auditor) == ("issue", auditor)
    assert LogEntry.objects.filter(additional_data__event="sample_finding",
                                   additional_data__case=case_id).exists()


def test_an_issue_needs_a_note(client, auditor):
    history(1)
    report = draw(auditor, sample_size=1, seed=9)
    url = reverse("audit:sampled_case", args=[report.pk, sampled_ids(report)[0]])
    response = client.post(url, {"verdict": "issue", "note": "  "})
    assert response.status_code == 400
    assert "Describe the issue" in response.content.decode()
    assert not Finding.objects.exists()


def test_a_finding_on_a_case_outside_the_report_is_404(client, auditor):
    cases = history(1)
    report = draw(auditor, sample_size=1, seed=9)
    outside = next(c.pk for c in cases if c.pk not in sampled_ids(report))
    url = reverse("audit:sampled_case", args=[report.pk, outside])
    assert client.post(url, {"verdict": "ok"}).status_code == 404
    assert not Finding.objects.exists()


def test_the_report_exports_as_csv_without_formula_injection(client, auditor):
    history(1)
    report = draw(auditor, sample_size=3, strata=("tier",), seed=3)
    first = report.sampled.first()
    Finding.objects.create(sampled=first, auditor=auditor, verdict="issue",
                           note="=HYPERLINK(\"http://evil\")")
    response = client.get(reverse("audit:report_csv", args=[report.pk]))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["position", "case", "opened_at"]
    assert len(rows) == 4
    assert rows[1][9] == "'=HYPERLINK(\"http://evil\")"


def test_the_printable_page_lists_every_sampled_case(client, auditor):
    history(1)
    report = draw(auditor, sample_size=3, seed=3)
    page = client.get(reverse("audit:report_print", args=[report.pk])).content.decode()
    assert all(f"Case {pk}" in page for pk in sampled_ids(report))


@pytest.mark.parametrize("role", ["agent", "supervisor", "security_admin"])
def test_audit_pages_are_for_auditors_only(client, role):
    sign_in_client(client, staff(role))
    assert client.get(reverse("audit:reports")).status_code == 403
    assert client.get(reverse("audit:dashboard")).status_code == 403


def open_cases_in_period(n=3):
    """Cases still open (verifying), opened in 2026 like the history."""
    cases = []
    for i in range(n):
        case = recovery_case("low")
        RecoveryCase.objects.filter(pk=case.pk).update(
            opened_at=timezone.make_aware(datetime(2026, 2, 10 + i, 9, 0)), state="verifying")
        cases.append(case)
    return cases


def draw_through_the_page(client, **fields):
    return client.post(reverse("audit:reports"), {
        "title": "Year review", "period_start": "2026-01-01", "period_end": "2026-12-31",
        **fields})


def test_a_sample_is_drawn_from_closed_cases_unless_open_ones_are_asked_for(client, auditor):
    closed = {c.pk for c in history()}
    still_open = {c.pk for c in open_cases_in_period()}
    response = draw_through_the_page(client, sample_size="18", seed="7")
    report = SamplingReport.objects.get()
    assert response.status_code == 302
    assert set(sampled_ids(report)) == closed
    assert (report.population, report.include_open) == (18, False)
    page = client.get(reverse("audit:report", args=[report.pk])).content.decode()
    assert "Drawn from closed cases only" in page and "18 closed cases opened" in page
    entry = LogEntry.objects.get(additional_data__event="sample_drawn")
    assert entry.additional_data["include_open"] is False

    response = draw_through_the_page(client, sample_size="21", seed="7", include_open="on")
    with_open = SamplingReport.objects.get(include_open=True)
    assert response.status_code == 302
    assert set(sampled_ids(with_open)) == closed | still_open
    assert with_open.population == 21
    page = client.get(reverse("audit:report", args=[with_open.pk])).content.decode()
    assert "Drawn from open and closed cases" in page


def test_a_redraw_with_the_stored_seed_and_choice_gives_the_same_cases(client, auditor):
    history()
    open_cases_in_period()
    first = draw(auditor, sample_size=8, seed=11, include_open=True)
    again = draw(auditor, sample_size=8, seed=11, include_open=True)
    closed_only = draw(auditor, sample_size=8, seed=11)
    assert sampled_ids(first) == sampled_ids(again)
    open_ids = set(RecoveryCase.objects.filter(state="verifying").values_list("pk", flat=True))
    assert not open_ids & set(sampled_ids(closed_only))


def test_a_period_with_only_open_cases_asks_for_the_box_and_stores_nothing(client, auditor):
    open_cases_in_period()
    response = draw_through_the_page(client, sample_size="1")
    assert response.status_code == 400
    assert "still open: tick “Include open cases”" in response.content.decode()
    assert not SamplingReport.objects.exists()


def test_a_closed_only_sample_larger_than_the_closed_cases_is_refused(client, auditor):
    history(1)
    open_cases_in_period()
    response = draw_through_the_page(client, sample_size="4")
    assert response.status_code == 400
    assert "larger than the 3 cases opened in this period (closed cases only)" in \
        response.content.decode()
    assert not SamplingReport.objects.exists()


def test_the_sample_form_offers_the_open_cases_box_unticked(client, auditor):
    page = client.get(reverse("audit:reports")).content.decode()
    assert 'name="include_open"' in page and "Include open cases" in page
    assert 'name="include_open" checked' not in page
