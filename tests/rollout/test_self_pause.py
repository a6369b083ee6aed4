"""A wave whose members open more recovery cases in a day than its plan
allows pauses itself and alerts security admins; a security admin resumes it."""

from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from recovery_console import clock, workflow
from recovery_console.models import Alert, Notice, RecoveryCase
from recovery_console.refusal import WorkflowError
from recovery_console.rollout import enforcement, tasks
from recovery_console.rollout.models import Wave
from tests.factories import reachable_identity, staff
from tests.sessions import sign_in_client

from .support import wave_for

pytestmark = pytest.mark.django_db

NOW = clock.now().replace(microsecond=0)


class Clock:
    """The injected clock: ``at(moment)`` moves it."""

    def __init__(self):
        self.moment = NOW

    def __call__(self, moment):
        self.moment = moment


@pytest.fixture
def at(monkeypatch):
    travel = Clock()
    monkeypatch.setattr(clock, "now", lambda: travel.moment)
    return travel


def cases(at, count: int, department: str = "Finance", *,
          opened: timedelta = timedelta(hours=1)):
    """``count`` people of ``department`` each open a case ``opened`` before now."""
    agent, now = staff("agent"), at.moment
    at(now - opened)
    try:
        return [workflow.open_case(reachable_identity(department=department),
                                   source=RecoveryCase.Source.DESK, actor=agent)
                for _ in range(count)]
    finally:
        at(now)


def events(name):
    return LogEntry.objects.filter(additional_data__event=name)


def test_a_wave_pauses_itself_past_its_daily_limit_and_alerts(at):
    wave = wave_for("Finance", "invite", limit=3)
    cases(at, 3)
    cases(at, 4, "Sales")  # not the wave's members
    cases(at, 2, opened=timedelta(hours=25))  # before the last 24 hours

    assert tasks.pause_overloaded_waves() == 0  # 3 is the limit, not past it
    cases(at, 1, opened=timedelta(minutes=1))
    assert tasks.pause_overloaded_waves() == 1

    wave.refresh_from_db()
    assert wave.paused_at == NOW
    assert wave.paused_reason == ("4 recovery cases opened by the wave's members in the last "
                                  "24 hours, past the plan's daily limit of 3.")
    alert = Alert.objects.get(kind=Alert.Kind.ROLLOUT_PAUSED)
    assert alert.identity is None
    assert str(wave) in alert.detail and "4 recovery cases" in alert.detail
    notice = Notice.objects.get(event="alert_rollout_paused")
    assert notice.medium == Notice.Medium.MONITORING and str(wave) in notice.subject
    entry = events("wave_paused").get()
    assert entry.actor is None
    assert (entry.additional_data["cases"], entry.additional_data["limit"]) == (4, 3)

    assert tasks.pause_overloaded_waves() == 0  # paused once, alerted once
    assert Alert.objects.filter(kind=Alert.Kind.ROLLOUT_PAUSED).count() == 1


def test_only_active_waves_are_watched(at):
    for stage in ("pilot", "done"):
        wave_for("Finance", stage, limit=1)
    enforcing = wave_for("Finance", "enforce", limit=1)
    cases(at, 2)
    assert [w.pk for w in enforcement.pause_overloaded_waves()] == [enforcing.pk]
    assert list(Wave.objects.filter(paused_at__isnull=False)) == [enforcing]


def test_the_load_of_every_wave_is_counted_in_one_aggregate(at):
    for n in range(8):
        wave_for("Finance" if n % 2 else f"Dept {n}", "report_only", limit=50)
    cases(at, 3)
    waves = list(Wave.objects.select_related("plan", "cohort"))
    with CaptureQueriesContext(connection) as queries:
        counts = enforcement.recent_case_counts(waves, NOW)
    assert len(queries) == 1
    assert sorted(counts.values()) == [0, 0, 0, 0, 3, 3, 3, 3]
    with CaptureQueriesContext(connection) as queries:
        assert enforcement.pause_overloaded_waves() == []
    assert len(queries) == 2  # the waves, then their load


def test_a_paused_wave_refuses_what_it_may_not_do_until_resumed(at):
    wave = wave_for("Finance", "report_only", limit=1)
    cases(at, 2)
    enforcement.pause_overloaded_waves()
    wave.refresh_from_db()
    with pytest.raises(WorkflowError) as refused:
        enforcement.refuse_while_paused(wave)
    assert refused.value.reason == "wave_paused" and "2 recovery cases" in refused.value.message


def pause_page(wave):
    return reverse("enforcement:wave_pause", args=[wave.pk])


def test_a_security_admin_resumes_a_paused_wave_with_a_note(client, at):
    wave = wave_for("Finance", "enforce", limit=1)
    cases(at, 2)
    enforcement.pause_overloaded_waves()
    admin = staff("security_admin")
    sign_in_client(client, admin)

    page = client.get(pause_page(wave))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Paused" in html and "2 recovery cases" in html and "Resume the wave" in html

    assert client.post(pause_page(wave), {"note": ""}).status_code == 400
    later = NOW + timedelta(hours=2)
    at(later)
    response = client.post(pause_page(wave), {"note": "Two more agents on the desk today.",
                                              "next": "/rollout/"})
    assert response.status_code == 302 and response.url == "/rollout/"
    wave.refresh_from_db()
    assert wave.paused_at is None and wave.paused_reason == "" and wave.resumed_at == later
    entry = events("wave_resumed").get()
    assert entry.actor == admin
    assert entry.additional_data["note"] == "Two more agents on the desk today."
    assert "2 recovery cases" in entry.additional_data["paused_reason"]

    # The cases the admin weighed do not pause it again; new ones past the limit do.
    assert enforcement.pause_overloaded_waves() == []
    at(later + timedelta(minutes=10))
    cases(at, 2, opened=timedelta(minutes=5))
    assert [w.pk for w in enforcement.pause_overloaded_waves()] == [wave.pk]


def test_nobody_but_a_security_admin_resumes(client, at):
    wave = wave_for("Finance", "invite", limit=1)
    cases(at, 2)
    enforcement.pause_overloaded_waves()
    auditor, agent = staff("auditor"), staff("agent")

    sign_in_client(client, auditor)
    page = client.get(pause_page(wave))
    assert page.status_code == 200 and "Resume the wave" not in page.content.decode()
    response = client.post(pause_page(wave), {"note": "Looks fine to me."})
    assert response.status_code == 403
    assert "Only security admins resume" in response.content.decode()
    refusal = events("wave_resume_refused").get()
    assert refusal.actor == auditor and refusal.additional_data["reason"] == "not_security_admin"

    sign_in_client(client, agent)
    assert client.post(pause_page(wave), {"note": "Go on."}).status_code == 403
    wave.refresh_from_db()
    assert wave.paused_at is not None


def test_resuming_a_wave_that_is_not_paused_is_refused(client):
    wave = wave_for("Finance", "invite")
    sign_in_client(client, staff("security_admin"))
    response = client.post(pause_page(wave), {"note": "Just in case."})
    assert response.status_code == 409
    assert "The wave is not paused" in response.content.decode()


def test_the_alerts_page_shows_a_paused_wave(client, at):
    wave = wave_for("Finance", "invite", limit=1)
    cases(at, 2)
    enforcement.pause_overloaded_waves()
    sign_in_client(client, staff("security_admin"))
    page = client.get(reverse("recovery:alerts"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "A rollout wave paused itself" in html and str(wave) in html
    assert "No one person: a rollout wave" in html

    alert = Alert.objects.get(kind=Alert.Kind.ROLLOUT_PAUSED)
    response = client.post(reverse("recovery:alerts_acknowledge"),
                           {"alert": [alert.pk], "note": "Resumed after a look."})
    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.acknowledged_at is not None


def test_pausing_twice_is_refused_and_alerts_once(at):
    wave = wave_for("Finance", "report_only", limit=1)
    enforcement.pause_wave(wave, cases=2)
    with pytest.raises(WorkflowError) as refused:
        enforcement.pause_wave(wave, cases=3)
    assert refused.value.reason == "wave_paused"
    assert events("wave_pause_refused").get().additional_data["reason"] == "wave_paused"
    assert Alert.objects.filter(kind=Alert.Kind.ROLLOUT_PAUSED).count() == 1
    wave.refresh_from_db()
    assert wave.paused_reason.startswith("2 recovery cases")
