"""The auditor's dashboard reads at a glance: every month of the range (none
skipped), human labels, a range the auditor chooses, and each chart's numbers
as a table and a CSV file. Only auditors see it."""

import csv
import io
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from accounts.models import Identity, User
from audit.models import Finding
from audit.sampling import SampleRequest, draw_sample
from recovery_console import clock
from tests.factories import staff
from tests.sessions import sign_in_client

from .support import history

pytestmark = pytest.mark.django_db
DASHBOARD = reverse("audit:dashboard")
YEAR_2026 = {"start": "2026-01-01", "end": "2026-12-31"}


def chart_csv(client, chart, **query):
    return client.get(reverse("audit:dashboard_csv", args=[chart]), query)


def rows_of(response):
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_the_dashboard_draws_charts_with_accessible_tables(client, auditor):
    history()
    response = client.get(DASHBOARD, YEAR_2026)
    page = response.content.decode()
    assert response.status_code == 200
    assert page.count("<svg") == 3
    for slug in ("months", "tiers", "outcomes"):
        assert f'role="img" aria-labelledby="{slug}-title" aria-describedby="{slug}-desc"' in page
        assert f'<title id="{slug}-title">' in page and f'<desc id="{slug}-desc">' in page
    assert "Recovery cases per risk tier and identity kind" in page
    assert ('<caption><span class="visually-hidden">Outcomes of decided cases: </span>'
            "The numbers</caption>") in page
    assert "agent-0" in page


def test_months_without_cases_are_shown_as_zero(client, auditor):
    history()  # January to June 2026
    response = client.get(DASHBOARD, YEAR_2026)
    months = response.context["numbers"]["charts"]["months"]
    assert [label for label, _ in months.rows] == [
        "Jan 2026", "Feb 2026", "Mar 2026", "Apr 2026", "May 2026", "Jun 2026",
        "Jul 2026", "Aug 2026", "Sep 2026", "Oct 2026", "Nov 2026", "Dec 2026"]
    assert [n for _, n in months.rows] == [3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 0, 0]
    page = response.content.decode()
    assert '<th scope="row">Dec 2026</th><td class="number">0</td>' in page
    assert "6 months with none" in page  # the chart's description says so too


def test_labels_are_the_ones_people_read(client, auditor):
    cases = history(1)
    Identity.objects.filter(pk=cases[0].identity_id).update(kind="service_account")
    page = client.get(DASHBOARD, YEAR_2026).content.decode()
    for label in ("Shared service account", "Employee", "Low tier", "Medium tier",
                  "High tier", "Completed", "Denied", "Expired"):
        assert label in page
    for raw in ("service_account", "low · employee", ">completed<", ">denied<"):
        assert raw not in page


def test_the_range_chosen_changes_the_numbers_and_stays_in_the_form(client, auditor):
    history()
    whole = client.get(DASHBOARD, YEAR_2026)
    spring = client.get(DASHBOARD, {"start": "2026-03-01", "end": "2026-04-30"})
    assert (whole.context["numbers"]["total"], spring.context["numbers"]["total"]) == (18, 6)
    assert [label for label, _ in spring.context["numbers"]["charts"]["months"].rows] == [
        "Mar 2026", "Apr 2026"]
    page = spring.content.decode()
    assert 'name="start" value="2026-03-01"' in page and 'name="end" value="2026-04-30"' in page
    assert "start=2026-03-01&amp;end=2026-04-30" in page  # the CSV links carry the range


def test_without_a_range_the_dashboard_shows_the_last_twelve_months(client, auditor,
                                                                     monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: datetime(2026, 7, 15, 12, tzinfo=UTC))
    history()
    response = client.get(DASHBOARD)
    months = response.context["numbers"]["charts"]["months"].rows
    assert (months[0][0], months[-1][0], len(months)) == ("Aug 2025", "Jul 2026", 12)
    assert response.context["numbers"]["total"] == 18
    assert 'name="start" value="2025-08-01"' in response.content.decode()


@pytest.mark.parametrize("query, message", [
    ({"start": "2026-05-01", "end": "2026-04-30"}, "must start on or before the day it ends"),
    ({"start": "2023-01-01", "end": "2026-12-31"}, "at most 36 months: this range covers 48"),
    ({"start": "2026-13-01", "end": "2026-12-31"}, "From: Enter a valid date."),
    ({"start": "2026-01-01", "end": "yesterday"}, "To (inclusive): Enter a valid date."),
])
def test_a_bad_range_is_refused_with_a_clear_400(client, auditor, query, message):
    history(1)
    response = client.get(DASHBOARD, query)
    page = response.content.decode()
    assert response.status_code == 400
    assert message.split(": ")[-1] in page
    assert "<svg" not in page and "Correct the range above" in page
    refused = chart_csv(client, "months", **query)
    assert refused.status_code == 400 and refused["Content-Type"].startswith("text/plain")
    assert message in refused.content.decode()


def test_each_chart_downloads_its_numbers_as_csv(client, auditor):
    history()
    months = chart_csv(client, "months", start="2026-05-01", end="2026-08-31")
    assert months.status_code == 200 and months["Content-Type"] == "text/csv; charset=utf-8"
    assert months["Content-Disposition"] == \
        'attachment; filename="months-2026-05-01-to-2026-08-31.csv"'
    assert rows_of(months) == [["Month", "Cases opened"], ["2026-05", "3"], ["2026-06", "3"],
                               ["2026-07", "0"], ["2026-08", "0"]]
    tiers = rows_of(chart_csv(client, "tiers", **YEAR_2026))
    assert tiers == [["Risk tier", "Identity kind", "Cases opened"], ["Low", "Employee", "6"],
                     ["Medium", "Employee", "6"], ["High", "Employee", "6"]]
    outcomes = rows_of(chart_csv(client, "outcomes", **YEAR_2026))
    assert outcomes[0] == ["Outcome", "Cases", "Share of decided (%)"]
    assert outcomes[1:4] == [["Completed", "9", "50.0"], ["Denied", "6", "33.3"],
                             ["Expired", "3", "16.7"]]
    agents = rows_of(chart_csv(client, "agents", **YEAR_2026))
    assert [row[1] for row in agents[1:]] == ["agent-0", "agent-1"]


def test_csv_cells_a_spreadsheet_would_run_are_quoted(client, auditor):
    history(2, agents=("+agent", "@agent"))
    User.objects.filter(username="+agent").update(
        first_name='=HYPERLINK("http://evil.example")', last_name="")
    rows = rows_of(chart_csv(client, "agents", **YEAR_2026))
    assert ["'=HYPERLINK(\"http://evil.example\")", "'+agent"] == rows[1][:2]
    assert rows[2][1] == "'@agent"


def test_an_unknown_chart_is_404(client, auditor):
    assert chart_csv(client, "salaries", **YEAR_2026).status_code == 404


@pytest.mark.parametrize("role", ["agent", "supervisor", "security_admin"])
def test_only_auditors_get_the_dashboard_and_its_csv(client, role):
    history(1)
    sign_in_client(client, staff(role))
    assert client.get(DASHBOARD, YEAR_2026).status_code == 403
    for chart in ("months", "tiers", "outcomes", "agents"):
        assert chart_csv(client, chart, **YEAR_2026).status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = chart_csv(client, "months", **YEAR_2026)
    assert response.status_code == 302 and "sign-in" in response.url


def add_findings(auditor):
    report = draw_sample(auditor, SampleRequest(
        title="Q", period_start=datetime(2026, 1, 1).date(),
        period_end=datetime(2026, 12, 31).date(), sample_size=2, seed=1))
    for sampled in report.sampled.all():
        Finding.objects.create(sampled=sampled, auditor=auditor, verdict="issue", note="Late")


def test_the_dashboard_and_its_csv_cost_the_same_queries_as_cases_grow(
        client, auditor, django_assert_max_num_queries):
    history(1)
    add_findings(auditor)
    with django_assert_max_num_queries(12) as few:
        assert client.get(DASHBOARD, YEAR_2026).status_code == 200
    with django_assert_max_num_queries(12) as few_csv:
        assert chart_csv(client, "agents", **YEAR_2026).status_code == 200
    history(4, agents=("agent-2", "agent-3", "agent-4"))
    add_findings(auditor)
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(DASHBOARD, YEAR_2026)
    assert page.context["numbers"]["total"] == 15
    assert len(page.context["numbers"]["agents"]) == 3
    with django_assert_max_num_queries(len(few_csv.captured_queries)):
        assert len(rows_of(chart_csv(client, "agents", **YEAR_2026))) == 4
