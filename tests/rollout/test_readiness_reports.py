"""Readiness reports: who has a passkey (and how recently they used it), a
usable backup channel, or nothing; the privileged people not ready, by name;
the trend from the daily snapshots; each chart with its table and CSV.
Security admins and auditors read them; nobody else does."""

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import PasskeyCredential
from recovery_console import clock
from recovery_console.rollout import tasks
from recovery_console.rollout.models import Cohort, ReadinessSnapshot
from tests.factories import IdentityFactory, RecoveryChannelFactory, staff
from tests.sessions import sign_in_client

pytestmark = pytest.mark.django_db
PAGE = reverse("rollout:readiness")
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)  # a Thursday


def chart_csv(client, chart, **query):
    return client.get(reverse("rollout:readiness_csv", args=[chart]), query)


def rows_of(response):
    return list(csv.reader(io.StringIO(response.content.decode())))


@pytest.fixture(autouse=True)
def frozen(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW)


@pytest.fixture
def auditor(client):
    user = staff("auditor")
    sign_in_client(client, user)
    return user


def person(name, *, privileged=False, department="Sales", passkey_used=None, passkey=False,
           channel=False, **fields):
    """An identity with, as asked, a live passkey (last used ``passkey_used``
    days before NOW, or never) and a usable email channel."""
    identity = IdentityFactory(display_name=name, privileged=privileged, department=department,
                               **fields)
    if passkey or passkey_used is not None:
        PasskeyCredential.objects.create(
            user=identity.user, name="Laptop", credential_id=f"cred-{identity.pk}",
            public_key=b"k",
            last_used_at=NOW - timedelta(days=passkey_used) if passkey_used is not None else None)
    if channel:
        RecoveryChannelFactory(identity=identity, changed_at=NOW - timedelta(days=200),
                               last_confirmed_at=NOW - timedelta(days=10))
    return identity


@pytest.fixture
def world():
    """Six active people (three in Finance), one who left."""
    people = {
        "ada": person("Ada Admin", privileged=True, department="Finance", passkey_used=3,
                      channel=True),
        "ben": person("Ben Brown", department="Finance", passkey_used=20),
        "cleo": person("Cleo Chief", privileged=True, department="Finance", channel=True),
        "dan": person("Dan Doe"),
        "eve": person("Eve Early", passkey=True, channel=True),
        "fay": person("Fay Founder", privileged=True, passkey_used=200),
    }
    person("Gus Gone", passkey_used=1, channel=True, is_active=False)
    finance = Cohort.objects.create(name="Finance", department="finance")
    return {**people, "finance": finance}


def test_the_organisation_report_counts_passkeys_channels_nothing_and_privileged(
        client, auditor, world):
    response = client.get(PAGE)
    assert response.status_code == 200
    report = response.context["report"]
    c = report.counts
    assert (c.members, c.with_passkey, c.with_channel, c.ready, c.with_nothing) == (6, 4, 3, 2, 1)
    assert (c.privileged, c.privileged_ready) == (3, 1)
    assert [(label, n) for _, label, n in report.recency.buckets()] == [
        ("Used in the last 7 days", 1), ("Used 8–30 days ago", 1),
        ("Used 31–90 days ago", 0), ("Used over 90 days ago", 1),
        ("Passkey never used", 1), ("No passkey", 2)]
    assert [p.display_name for p in response.context["people"]] == ["Cleo Chief", "Fay Founder"]
    page = response.content.decode()
    assert "Whole organisation: 6 members today." in page
    assert "Privileged people not ready (2)" in page
    assert '<th scope="row">Cleo Chief</th>' in page and "Ada Admin" not in page
    assert "Gus Gone" not in page


def test_choosing_a_cohort_reports_its_members_only(client, auditor, world):
    response = client.get(PAGE, {"cohort": world["finance"].pk})
    assert response.status_code == 200
    c = response.context["report"].counts
    assert (c.members, c.with_passkey, c.with_channel, c.ready, c.with_nothing) == (3, 2, 2, 1, 0)
    assert [p.display_name for p in response.context["people"]] == ["Cleo Chief"]
    page = response.content.decode()
    assert "Finance: 3 members today." in page
    assert f'<option value="{world["finance"].pk}" selected>Finance</option>' in page
    # Each CSV link keeps the cohort chosen.
    assert f'/rollout/readiness/recency.csv?cohort={world["finance"].pk}"' in page


def test_an_unknown_cohort_is_refused_with_a_message(client, auditor, world):
    response = client.get(PAGE, {"cohort": "999999"})
    assert response.status_code == 400
    assert "There is no such cohort" in response.content.decode()
    assert chart_csv(client, "readiness", cohort="nope").status_code == 400


def test_every_chart_is_an_svg_with_a_title_and_a_table_beside_it(client, auditor, world):
    ReadinessSnapshot.objects.create(day=date(2026, 11, 20), members=6, with_passkey=3,
                                     with_channel=3, ready=2, with_nothing=1, privileged=3,
                                     privileged_ready=1)
    page = client.get(PAGE).content.decode()
    for slug in ("readiness", "recency", "ready_trend", "passkey_trend", "nothing_trend"):
        assert f'role="img" aria-labelledby="{slug}-title" aria-describedby="{slug}-desc"' in page
        assert f'<title id="{slug}-title">' in page
        assert f'href="/rollout/readiness/{slug}.csv" download' in page
    assert page.count("<svg") == 5
    assert page.count('<table class="chart-numbers">') == 5
    assert "<title>Passkey never used: 16.7%</title>" in page


def test_each_chart_downloads_as_a_csv_of_its_table(client, auditor, world):
    response = chart_csv(client, "readiness", cohort=world["finance"].pk)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == \
        'attachment; filename="readiness-finance-2026-11-26.csv"'
    assert rows_of(response) == [
        ["Members", "Count", "Share (%)"],
        ["With a passkey", "2", "66.7"], ["With a usable recovery channel", "2", "66.7"],
        ["Ready (both)", "1", "33.3"], ["With nothing", "0", "0.0"]]
    recency = rows_of(chart_csv(client, "recency"))
    assert recency[0] == ["Passkey", "Members", "Share (%)"]
    assert recency[-1] == ["No passkey", "2", "33.3"]
    assert chart_csv(client, "no-such-chart").status_code == 404


def test_a_cohort_name_a_spreadsheet_would_run_never_reaches_the_csv(client, auditor, world):
    cohort = Cohort.objects.create(name="=HYPERLINK(evil)", department="finance")
    response = chart_csv(client, "ready_trend", cohort=cohort.pk)
    assert 'filename="ready_trend-hyperlinkevil-2026-11-26.csv"' in \
        response["Content-Disposition"]
    assert all(not cell.startswith(("=", "+", "-", "@"))
               for row in rows_of(response) for cell in row)


def test_the_trend_takes_each_weeks_last_snapshot_and_shows_weeks_without_one(
        client, auditor, world):
    def snapshot(day, ready, cohort=None):
        ReadinessSnapshot.objects.create(day=day, cohort=cohort, members=10, with_passkey=ready,
                                         with_channel=ready, ready=ready, with_nothing=0,
                                         privileged=0, privileged_ready=0)

    snapshot(date(2026, 11, 16), 2)  # Monday of the week before
    snapshot(date(2026, 11, 19), 4)  # the same week, later: this one counts
    snapshot(date(2026, 11, 24), 7)  # this week
    snapshot(date(2026, 11, 24), 1, cohort=world["finance"])  # another population
    response = client.get(PAGE)
    trend = response.context["report"].charts["ready_trend"]
    assert len(trend.rows) == 12
    assert trend.rows[-2:] == [("16 Nov", "19 Nov", 10, 4, "40%"),
                               ("23 Nov", "24 Nov", 10, 7, "70%")]
    assert trend.rows[0] == ("7 Sep", "none", "—", "—", "—")
    assert [bar.label for bar in trend.bars[-2:]] == ["Week of 16 Nov", "Week of 23 Nov"]
    assert "from 40% to 70%; 10 weeks without a snapshot." in trend.description
    rows = rows_of(chart_csv(client, "ready_trend"))
    assert rows[0] == ["Week of", "Snapshot", "Members", "Ready", "Share (%)"]
    assert rows[1] == ["2026-09-07", "", "", "", ""]
    assert rows[-1] == ["2026-11-23", "2026-11-24", "10", "7", "70.0"]


def test_the_daily_snapshot_keeps_one_row_per_population_and_day(monkeypatch, world):
    assert tasks.take_readiness_snapshots() == 2  # the organisation and Finance
    assert tasks.take_readiness_snapshots() == 2  # again the same day: updated, not added
    rows = ReadinessSnapshot.objects.order_by(F("cohort_id").asc(nulls_first=True))
    assert [(s.day, s.cohort_id, s.members, s.ready) for s in rows] == [
        (date(2026, 11, 26), None, 6, 2), (date(2026, 11, 26), world["finance"].pk, 3, 1)]

    PasskeyCredential.objects.create(user=world["cleo"].user, name="Phone",
                                     credential_id="cred-cleo", public_key=b"k")
    tasks.take_readiness_snapshots()  # later that day: the day's point moves
    assert ReadinessSnapshot.objects.get(cohort=world["finance"]).ready == 2

    monkeypatch.setattr(clock, "now", lambda: NOW + timedelta(days=1))
    tasks.take_readiness_snapshots()
    assert ReadinessSnapshot.objects.count() == 4
    assert list(ReadinessSnapshot.objects.filter(cohort=None).values_list("day", "ready")) == [
        (date(2026, 11, 26), 3), (date(2026, 11, 27), 3)]


def test_the_snapshots_are_taken_daily_by_beat(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["take-readiness-snapshots"]
    assert entry["task"] == "recovery_console.rollout.tasks.take_readiness_snapshots"
    assert entry["schedule"] == 24 * 60 * 60.0


def test_the_page_costs_the_same_queries_however_many_people(client, auditor, world):
    def queries(**query):
        with CaptureQueriesContext(connection) as captured:
            assert client.get(PAGE, query).status_code == 200
        return len(captured)

    client.get(PAGE)  # the session's first request loads what later ones reuse
    small = (queries(), queries(cohort=world["finance"].pk))
    for n in range(30):  # privileged people not ready: more than a page of them
        person(f"Pat {n:02d}", privileged=True, department="Finance", passkey_used=n)
        person(f"Sam {n:02d}", channel=True)
    tasks.take_readiness_snapshots()
    assert (queries(), queries(cohort=world["finance"].pk)) == small
    assert queries(page=2) == small[0]
    assert small[0] <= 15  # sign-in and roles, cohorts, counts, recency, trend, one page


def test_the_privileged_list_is_paged_and_keeps_the_cohort(client, auditor, world):
    for n in range(30):
        person(f"Pat {n:02d}", privileged=True, department="Finance")
    cohort = world["finance"].pk
    first = client.get(PAGE, {"cohort": cohort})
    assert len(first.context["people"]) == 25
    assert f'href="?cohort={cohort}&amp;page=2#privileged-heading">Next</a>' in \
        first.content.decode()
    second = client.get(PAGE, {"cohort": cohort, "page": 2})
    # 31 privileged people not ready in Finance, by name: Cleo Chief, then Pat 00 to Pat 29.
    assert [p.display_name for p in second.context["people"]] == [
        f"Pat {n}" for n in range(24, 30)]


def test_a_security_admin_reads_the_report_too(client, world):
    sign_in_client(client, staff("security_admin"))
    assert client.get(PAGE).status_code == 200
    assert chart_csv(client, "recency").status_code == 200


@pytest.mark.parametrize("role", ["agent", "supervisor"])
def test_other_staff_are_refused(client, world, role):
    sign_in_client(client, staff(role))
    assert client.get(PAGE).status_code == 403
    assert chart_csv(client, "recency").status_code == 403


def test_the_auditor_reads_and_changes_nothing(client, auditor, world):
    assert client.post(PAGE).status_code == 405
    assert client.post(reverse("rollout:readiness_csv", args=["recency"])).status_code == 405
    page = client.get(PAGE).content.decode()
    assert 'method="post"' not in page.split("<main", 1)[1]
