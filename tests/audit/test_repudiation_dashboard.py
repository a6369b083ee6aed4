"""The auditor's dashboard shows who on the staff took part in recoveries
people repudiated, beside the agents' speed: a count per person in the
range, their part, the reviews still open, as a chart, a table and a CSV;
its cost does not grow with the data."""

import csv
import io
from datetime import UTC, datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from recovery_console.models import InvolvementReview
from tests.factories import staff
from tests.sessions import sign_in_client

from .support import history

pytestmark = pytest.mark.django_db
DASHBOARD = reverse("audit:dashboard")
YEAR_2026 = {"start": "2026-01-01", "end": "2026-12-31"}


def chart_csv(client, **query):
    return client.get(reverse("audit:dashboard_csv", args=["repudiations"]), query)


def rows_of(response):
    return list(csv.reader(io.StringIO(response.content.decode())))


def repudiations(cases, admin):
    """agent-0 in two repudiated recoveries (one still open), a supervisor in
    one (closed), agent-1 in one the year before."""
    boss = staff("supervisor", username="boss", first_name="Sam", last_name="Boss")
    agent0, agent1 = (User.objects.get(username=name) for name in ("agent-0", "agent-1"))
    march, may = (datetime(2026, m, 3, tzinfo=UTC) for m in (3, 5))
    InvolvementReview.objects.create(case=cases[0], staff=agent0, roles=["worked", "issued"],
                                     created_at=march)
    InvolvementReview.objects.create(case=cases[1], staff=agent0, roles=["worked"],
                                     created_at=may, outcome="coaching", note="Callback.",
                                     closed_by=admin, closed_at=timezone.now())
    InvolvementReview.objects.create(case=cases[0], staff=boss, roles=["approved"],
                                     created_at=march, outcome="cleared", note="Fine.",
                                     closed_by=admin, closed_at=timezone.now())
    InvolvementReview.objects.create(case=cases[2], staff=agent1, roles=["worked"],
                                     created_at=datetime(2025, 6, 1, tzinfo=UTC))


def test_the_dashboard_counts_repudiations_per_staff_member_in_the_range(client, auditor):
    repudiations(history(), staff("security_admin"))
    page = client.get(DASHBOARD, YEAR_2026).content.decode()
    assert '<h2 id="repudiations-heading">Staff with repudiations</h2>' in page
    assert '<desc id="repudiations-desc">One bar per staff member who took part in a ' \
           'recovery the person repudiated: 2 people, 3 reviews' in page
    table = page.split('id="repudiations-heading"', 1)[1].split("</section>", 1)[0]
    assert "agent-1" not in table  # their repudiation was the year before
    rows = rows_of(chart_csv(client, **YEAR_2026))
    assert rows[0] == ["Staff member", "Username", "Repudiated recoveries", "Worked",
                       "Approved", "Issued", "Opened", "Reviews still open"]
    assert rows[1][1:] == ["agent-0", "2", "2", "0", "1", "0", "1"]
    assert rows[2] == ["Sam Boss", "boss", "1", "0", "1", "0", "0", "0"]
    assert len(rows) == 3
    earlier = rows_of(chart_csv(client, start="2025-01-01", end="2025-12-31"))
    assert [row[1] for row in earlier[1:]] == ["agent-1"]


def test_a_range_without_repudiations_says_so(client, auditor):
    history(1)
    page = client.get(DASHBOARD, YEAR_2026).content.decode()
    assert "Nobody answered “this wasn&#x27;t me” to a recovery in this range." in page \
        or "Nobody answered “this wasn't me” to a recovery in this range." in page


@pytest.mark.parametrize("role", ["agent", "supervisor", "security_admin"])
def test_only_auditors_download_it(client, role):
    sign_in_client(client, staff(role))
    assert chart_csv(client, **YEAR_2026).status_code == 403


def test_the_panel_costs_one_query_however_many_repudiations(
        client, auditor, django_assert_max_num_queries):
    admin = staff("security_admin")
    repudiations(history(1), admin)
    with django_assert_max_num_queries(13) as few:
        assert client.get(DASHBOARD, YEAR_2026).status_code == 200
    with django_assert_max_num_queries(13) as few_csv:
        assert chart_csv(client, **YEAR_2026).status_code == 200
    cases = history(2, agents=("agent-2", "agent-3"))
    for i, case in enumerate(cases):
        InvolvementReview.objects.create(case=case, staff=staff("agent"), roles=["worked"],
                                         created_at=datetime(2026, 4, 1 + i, tzinfo=UTC))
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(DASHBOARD, YEAR_2026)
    assert len(page.context["numbers"]["repudiated"]) == 2 + len(cases)
    with django_assert_max_num_queries(len(few_csv.captured_queries)):
        assert len(rows_of(chart_csv(client, **YEAR_2026))) == 3 + len(cases)
