"""Per wave: enrolment progress beside the recovery load its members put on
the help desk (cases per day against the plan's limit, and the share that
needed a supervisor), on the wave page's partial and the auditor's dashboard."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import PasskeyCredential
from recovery_console import clock
from recovery_console.models import RecoveryCase
from recovery_console.rollout.models import Cohort, RolloutPlan, Wave
from recovery_console.rollout.readiness import channel_age
from recovery_console.rollout.reports import wave_progress
from tests.factories import recovery_case, staff
from tests.sessions import sign_in_client

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW)


def wave_of(department, stage=Wave.Stage.INVITE, position=1, plan=None, limit=2):
    plan = plan or RolloutPlan.objects.create(name=f"Plan {department}", daily_case_limit=limit)
    cohort = Cohort.objects.create(name=department, department=department)
    return Wave.objects.create(plan=plan, cohort=cohort, position=position, stage=stage)


def case_opened(tier, department, days_ago, **fields):
    """A closed case of a ``department`` member opened ``days_ago`` days before NOW."""
    case = recovery_case(tier, department=department, **fields)
    RecoveryCase.objects.filter(pk=case.pk).update(
        opened_at=NOW - timedelta(days=days_ago), state=RecoveryCase.State.COMPLETED)
    return case


@pytest.fixture
def sales():
    """A Sales wave: four members with cases (one has a passkey), cases over
    the last week and one older; a Legal member's case is no part of it."""
    wave = wave_of("Sales")
    case_opened("low", "Sales", 0)
    case_opened("high", "Sales", 0)  # needed a supervisor
    case_opened("low", "Sales", 3)
    case_opened("low", "Sales", 9)  # before the week
    case_opened("low", "Legal", 0)
    someone = RecoveryCase.objects.filter(identity__department="Sales").first().identity
    PasskeyCredential.objects.create(user=someone.user, name="Key", credential_id="k1",
                                     public_key=b"k")
    # A member opening a second case the same day counts twice (two cases).
    second = RecoveryCase.objects.filter(identity__department="Sales").last()
    case = recovery_case("low", department="Sales")
    RecoveryCase.objects.filter(pk=case.pk).update(identity=second.identity,
                                                   opened_at=NOW - timedelta(hours=1),
                                                   state=RecoveryCase.State.CANCELLED)
    return wave


def test_wave_progress_counts_members_cases_per_day_and_supervised_share(sales):
    progress = wave_progress(sales, NOW)
    assert (progress.members, progress.with_passkey) == (5, 1)
    assert progress.passkey_share == 20.0
    assert progress.days == [
        (date(2026, 11, 20), 0), (date(2026, 11, 21), 0), (date(2026, 11, 22), 0),
        (date(2026, 11, 23), 1), (date(2026, 11, 24), 0), (date(2026, 11, 25), 0),
        (date(2026, 11, 26), 3)]
    assert (progress.cases, progress.supervised, progress.supervised_share) == (4, 1, 25.0)
    assert progress.busiest == 3 and progress.load_rows[0] == {
        "day": date(2026, 11, 26), "label": "Thu 26 Nov", "cases": 3, "over": True}


def test_an_escalated_case_needed_a_supervisor_too(sales):
    low = RecoveryCase.objects.filter(identity__department="Sales", tier="low",
                                      opened_at__date=date(2026, 11, 23)).get()
    RecoveryCase.objects.filter(pk=low.pk).update(escalated_at=NOW)
    assert wave_progress(sales, NOW).supervised == 2


def test_a_wave_without_cases_shows_no_supervised_share():
    progress = wave_progress(wave_of("Empty"), NOW)
    assert (progress.members, progress.cases, progress.supervised_share) == (0, 0, None)
    assert progress.ready_share == 0.0


def test_wave_progress_is_one_query_once_the_channels_age_is_known(
        sales, django_assert_num_queries):
    sales = Wave.objects.select_related("plan", "cohort").get(pk=sales.pk)
    max_age = channel_age()
    with django_assert_num_queries(1):
        wave_progress(sales, NOW, max_age)


def test_the_wave_pages_partial_shows_progress_beside_load(sales):
    page = render_to_string("rollout/_wave_readiness.html", {"wave": sales, "now": NOW})
    assert "Enrolment beside recovery load" in page
    assert "<dt>With a passkey</dt><dd>1 (20.0%)</dd>" in page
    assert "<dt>Needed a supervisor</dt><dd>1 (25.0%)</dd>" in page
    assert "against the plan’s limit of 2 a day" in page
    assert '<th scope="row">Thu 26 Nov</th><td class="number over">3 (over the limit)</td>' in page
    assert '<th scope="row">Fri 20 Nov</th><td class="number">0</td>' in page


def test_the_auditors_dashboard_lists_active_waves_with_their_numbers(client, sales):
    sign_in_client(client, staff("auditor"))
    wave_of("Pilots", stage=Wave.Stage.PILOT, plan=sales.plan, position=2)
    Wave.objects.filter(pk=sales.pk).update(paused_at=NOW)
    page = client.get(reverse("audit:dashboard")).content.decode()
    assert "Passkey rollout: active waves" in page
    assert '<th scope="row">Plan Sales · wave 1: Sales</th><td>Invite <strong>(paused)</strong>' \
        in page
    assert "<strong>3 (2), over</strong>" in page
    assert "Pilots" not in page  # a pilot is not active yet
    assert 'href="/rollout/readiness/">Passkey readiness' in page


def test_the_dashboard_costs_a_query_per_active_wave_and_lists_at_most_ten(client):
    sign_in_client(client, staff("auditor"))
    dashboard = reverse("audit:dashboard")
    client.get(dashboard)
    plan = RolloutPlan.objects.create(name="Everyone")

    def queries():
        with CaptureQueriesContext(connection) as captured:
            response = client.get(dashboard)
        return len(captured), response

    none, _ = queries()
    wave_of("W1", plan=plan, position=1)
    one, _ = queries()
    for n in range(2, 13):
        wave_of(f"W{n}", plan=plan, position=n, stage=Wave.Stage.ENFORCE)
    many, response = queries()
    assert one - none == 2  # the channels' age, then one query per wave
    assert many - none == 11
    assert len(response.context["rollout"][0]) == 10 and response.context["rollout"][1]
    assert "Only the first 10 active waves are listed." in response.content.decode()
