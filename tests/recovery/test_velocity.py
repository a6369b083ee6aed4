"""Velocity limits through HTTP: per person, the second
recovery within the policy's window raises the tier and alerts, the third is
refused at the help desk and routed to security, who may allow one more;
per agent, issuing above the team's norms alerts, and past its daily limit
each further issue waits for a supervisor's release. Each refusal with its
message, reason and audit entry, and nothing changed."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from recovery_console import clock, workflow
from recovery_console.models import (
    Alert,
    IssueRelease,
    RecoveryAllowance,
    RecoveryCase,
    RecoveryCredential,
    RecoveryPolicy,
    Team,
)
from tests.factories import reachable_identity, recovery_case, staff
from tests.sessions import sign_in_client

from .support import approved, events, refusals, resolve_self_service_requests, step_up_now

pytestmark = pytest.mark.django_db


def past_recovery(identity, days_ago: int) -> RecoveryCase:
    """A recovery of ``identity`` opened ``days_ago`` days ago, closed since."""
    case = workflow.open_case(identity, source=RecoveryCase.Source.DESK, actor=staff("agent"))
    workflow.cancel(case, staff("supervisor"), "Done with.")
    RecoveryCase.objects.filter(pk=case.pk).update(
        opened_at=timezone.now() - timedelta(days=days_ago))
    return case


def open_at_desk(client, identity):
    return client.post(reverse("recovery:open_case"), {"directory_id": identity.directory_id})


@pytest.fixture
def agent_client(client):
    agent = staff("agent")
    sign_in_client(client, agent)
    client.user = agent
    return client


# --- per person ---------------------------------------------------------------------

def test_the_second_recovery_within_the_policys_window_raises_the_tier_and_alerts(
        agent_client):
    RecoveryPolicy.objects.update(repeat_window=timedelta(days=10))
    identity = reachable_identity()
    past_recovery(identity, days_ago=8)
    response = open_at_desk(agent_client, identity)
    assert response.status_code == 302
    case = RecoveryCase.objects.filter(identity=identity).order_by("-pk").first()
    assert case.tier == "medium"
    assert "Another recovery in the last 10 days (1)." in case.tier_reasons
    alert = Alert.objects.get(kind=Alert.Kind.REPEATED_RECOVERY, identity=identity)
    assert "recovery number 2 in 10 days" in alert.detail


def test_a_recovery_outside_the_policys_window_does_not_count(agent_client):
    RecoveryPolicy.objects.update(repeat_window=timedelta(days=10))
    identity = reachable_identity()
    past_recovery(identity, days_ago=12)
    past_recovery(identity, days_ago=11)
    assert open_at_desk(agent_client, identity).status_code == 302
    case = RecoveryCase.objects.filter(identity=identity).order_by("-pk").first()
    assert case.tier == "low"
    assert not Alert.objects.filter(identity=identity).exists()


def test_the_third_recovery_is_refused_at_the_desk_and_routed_to_security(agent_client):
    identity = reachable_identity()
    past_recovery(identity, days_ago=20)
    past_recovery(identity, days_ago=2)
    cases = RecoveryCase.objects.count()
    response = open_at_desk(agent_client, identity)
    assert response.status_code == 400
    page = response.content.decode()
    assert "This would be recovery number 3 for this person within 30 days" in page
    assert "a security admin must allow one more recovery first" in page
    assert RecoveryCase.objects.count() == cases  # nothing opened
    refusal = refusals("case_open", "velocity_identity").get()
    assert refusal.actor == agent_client.user
    assert refusal.additional_data["number"] == 3
    alert = Alert.objects.get(kind=Alert.Kind.VELOCITY_IDENTITY)
    assert alert.identity == identity and "recovery number 3 within 30 days" in alert.detail
    assert events("alert_raised").filter(additional_data__kind="velocity_identity").count() == 1
    # Again: refused again, audited again, but security is told once per window.
    assert open_at_desk(agent_client, identity).status_code == 400
    assert refusals("case_open", "velocity_identity").count() == 2
    assert Alert.objects.filter(kind=Alert.Kind.VELOCITY_IDENTITY).count() == 1


def test_the_refusal_count_is_the_policys(agent_client):
    RecoveryPolicy.objects.update(refuse_from=2)
    identity = reachable_identity()
    past_recovery(identity, days_ago=3)
    assert open_at_desk(agent_client, identity).status_code == 400
    assert refusals("case_open", "velocity_identity").exists()


def test_a_self_service_request_past_the_limit_is_refused_and_routed_to_security(client):
    identity = reachable_identity()
    past_recovery(identity, days_ago=5)
    past_recovery(identity, days_ago=4)
    client.post(reverse("recovery:self_service"), {"identifier": identity.directory_id})
    assert resolve_self_service_requests() == ["refused"]
    assert refusals("case_open", "velocity_identity").get().actor is None
    assert not RecoveryCase.objects.filter(identity=identity, state="new").exists()
    assert Alert.objects.filter(kind=Alert.Kind.VELOCITY_IDENTITY, identity=identity).count() == 1


def test_a_repudiation_is_never_refused_for_velocity():
    identity = reachable_identity()
    past_recovery(identity, days_ago=5)
    past_recovery(identity, days_ago=4)
    case = workflow.open_case(identity, source=RecoveryCase.Source.REPUDIATION)
    assert case.high_priority


def refused_person(agent_client):
    identity = reachable_identity()
    past_recovery(identity, days_ago=5)
    past_recovery(identity, days_ago=4)
    assert open_at_desk(agent_client, identity).status_code == 400
    return identity, Alert.objects.get(kind=Alert.Kind.VELOCITY_IDENTITY, identity=identity)


def test_a_security_admin_allows_one_more_recovery_once(client, agent_client):
    identity, alert = refused_person(agent_client)
    admin = staff("security_admin")
    admin_client = sign_in_client(client.__class__(), admin)
    page = admin_client.get(reverse("recovery:alerts")).content.decode()
    assert f'action="/security/alerts/{alert.pk}/allow/"' in page
    response = admin_client.post(reverse("recovery:allow_recovery", args=[alert.pk]),
                                 {"reason": "Called her back on the number on file."})
    assert response.status_code == 302
    allowance = RecoveryAllowance.objects.get(identity=identity)
    assert allowance.granted_by == admin and allowance.used_at is None
    assert allowance.expires_at == allowance.created_at + timedelta(hours=24)
    entry = events("recovery_allowed").get()
    assert entry.actor == admin
    assert entry.additional_data["reason"] == "Called her back on the number on file."
    page = admin_client.get(reverse("recovery:alerts")).content.decode()
    assert "One more recovery allowed by" in page
    # The agent may open the case now; the allowance is used by it.
    assert open_at_desk(agent_client, identity).status_code == 302
    case = RecoveryCase.objects.get(identity=identity, state="new")
    allowance.refresh_from_db()
    assert allowance.used_at is not None and allowance.case == case
    assert events("case_opened").filter(object_pk=str(case.pk)).get() \
        .additional_data["allowed_by_security"] is True
    page = admin_client.get(reverse("recovery:alerts")).content.decode()
    assert f"case #{case.pk}" in page
    # Single use: once that case is closed, the next is refused again.
    workflow.cancel(case, staff("supervisor"), "Done.")
    assert open_at_desk(agent_client, identity).status_code == 400


def test_only_a_security_admin_allows_and_with_a_reason(client, agent_client):
    identity, alert = refused_person(agent_client)
    for role in ("agent", "supervisor", "auditor"):
        other = sign_in_client(client.__class__(), staff(role))
        response = other.post(reverse("recovery:allow_recovery", args=[alert.pk]),
                              {"reason": "Looks fine."})
        assert response.status_code == 403
    admin_client = sign_in_client(client.__class__(), staff("security_admin"))
    response = admin_client.post(reverse("recovery:allow_recovery", args=[alert.pk]),
                                 {"reason": "  "})
    assert response.status_code == 400
    assert "Give a reason to allow one more recovery." in response.content.decode()
    assert not RecoveryAllowance.objects.exists()
    assert not events("recovery_allowed").exists()


def test_only_a_velocity_alert_can_be_allowed_and_only_once_at_a_time(client, agent_client):
    identity, alert = refused_person(agent_client)
    other = Alert.objects.create(identity=identity, kind=Alert.Kind.NEW_NETWORK, detail="x")
    admin = staff("security_admin")
    admin_client = sign_in_client(client.__class__(), admin)
    response = admin_client.post(reverse("recovery:allow_recovery", args=[other.pk]),
                                 {"reason": "Checked."})
    assert response.status_code == 409
    assert refusals("recovery_allow", "not_velocity_alert").get().actor == admin
    assert admin_client.post(reverse("recovery:allow_recovery", args=[alert.pk]),
                             {"reason": "Checked."}).status_code == 302
    response = admin_client.post(reverse("recovery:allow_recovery", args=[alert.pk]),
                                 {"reason": "Again."})
    assert response.status_code == 409
    assert "already allowed" in response.content.decode()
    assert RecoveryAllowance.objects.count() == 1


def test_an_allowance_not_used_within_24_hours_lapses(client, agent_client, monkeypatch):
    identity, alert = refused_person(agent_client)
    workflow.allow_recovery(alert, staff("security_admin"), "Checked on the phone.")
    admin_client = sign_in_client(client.__class__(), staff("security_admin"))
    form = f'action="/security/alerts/{alert.pk}/allow/"'
    assert form not in admin_client.get(reverse("recovery:alerts")).content.decode()
    later = timezone.now() + timedelta(hours=25)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert open_at_desk(agent_client, identity).status_code == 400
    assert RecoveryAllowance.objects.get().used_at is None
    # Lapsed: the security admin may allow one more again.
    assert form in admin_client.get(reverse("recovery:alerts")).content.decode()


# --- per agent ----------------------------------------------------------------------

def approved_case_of(team, agent, **fields):
    """An approved low case of ``team``'s queue held by ``agent``, one of its
    members (a team's case is worked by its members only)."""
    case = recovery_case("low", **fields)
    if team is not None:
        team.members.add(agent)
        agent._team_ids = None  # the membership the user object cached is stale
        RecoveryCase.objects.filter(pk=case.pk).update(team=team)
        case.refresh_from_db()
    workflow.claim(case, agent)
    workflow.answer_pressure_checklist(case, agent, [], none_observed=True)
    case.refresh_from_db()
    return approved(case, agent)


def issue_over_http(client, case):
    return client.post(reverse("recovery:issue", args=[case.pk]))


def test_issuing_above_the_teams_hourly_norm_alerts_security_once(agent_client):
    agent = agent_client.user
    team = Team.objects.create(name="Outsourced first line", hourly_norm=1, daily_norm=10)
    for _ in range(3):
        case = approved_case_of(team, agent)
        assert issue_over_http(agent_client, case).status_code == 302
    alert = Alert.objects.get(kind=Alert.Kind.AGENT_VELOCITY)
    assert alert.staff == agent and alert.identity is None
    assert "issued 2 recovery credentials in the hour, above the norm of 1" in alert.detail
    assert "Outsourced first line" in alert.detail


def test_issuing_above_the_daily_norm_alerts_once_a_day(agent_client):
    agent = agent_client.user
    team = Team.objects.create(name="Desk", hourly_norm=50, daily_norm=1)
    for _ in range(3):
        assert issue_over_http(agent_client, approved_case_of(team, agent)).status_code == 302
    alert = Alert.objects.get(kind=Alert.Kind.AGENT_VELOCITY)
    assert "in the UTC day, above the norm of 1" in alert.detail


def test_the_console_desk_uses_a_teams_default_norms(agent_client):
    agent = agent_client.user
    for _ in range(2):
        assert issue_over_http(agent_client, approved_case_of(None, agent)).status_code == 302
    assert not Alert.objects.filter(kind=Alert.Kind.AGENT_VELOCITY).exists()
    assert Team().hourly_norm == 6 and Team().daily_limit == 50


@pytest.fixture
def past_limit(agent_client):
    """The agent issued today up to their team's daily limit (1); a second
    approved case of theirs waits."""
    agent = agent_client.user
    team = Team.objects.create(name="Tight", daily_limit=1)
    assert issue_over_http(agent_client, approved_case_of(team, agent)).status_code == 302
    return approved_case_of(team, agent)


def test_past_the_daily_limit_the_agent_cannot_issue(agent_client, past_limit):
    case = past_limit
    credentials = RecoveryCredential.objects.count()
    page = agent_client.get(reverse("recovery:case", args=[case.pk])).content.decode()
    assert "Waiting for a supervisor." in page
    assert f'action="/cases/{case.pk}/issue/"' not in page
    response = issue_over_http(agent_client, case)
    assert response.status_code == 409
    assert "the daily limit of your team is 1: a supervisor must release this case" in \
        response.content.decode()
    refusal = refusals("credential_issue", "velocity_agent").get()
    assert refusal.actor == agent_client.user and refusal.additional_data["daily_limit"] == 1
    assert RecoveryCredential.objects.count() == credentials
    case.refresh_from_db()
    assert case.state == "approved"


def test_a_supervisor_releases_the_case_and_the_agent_issues(client, agent_client, past_limit):
    case = past_limit
    supervisor = staff("supervisor")
    boss = sign_in_client(client.__class__(), supervisor)
    page = boss.get(reverse("recovery:case", args=[case.pk])).content.decode()
    assert f'action="/cases/{case.pk}/release/"' in page
    response = boss.post(reverse("recovery:release_issue", args=[case.pk]),
                         {"reason": "Busy morning after the outage; the case is sound."})
    assert response.status_code == 302
    release = IssueRelease.objects.get(case=case)
    assert release.supervisor == supervisor and release.agent == agent_client.user
    assert release.step_up_device == supervisor.totpdevice_set.get().persistent_id
    entry = events("issue_released").get()
    assert entry.actor == supervisor and entry.additional_data["agent"] == agent_client.user.pk
    for viewer in (boss, agent_client):
        page = viewer.get(reverse("recovery:case", args=[case.pk])).content.decode()
        assert "Released past the daily limit" in page
        assert "Busy morning after the outage" in page
    assert issue_over_http(agent_client, case).status_code == 302
    case.refresh_from_db()
    assert case.state == "credential_issued"


def test_the_agent_cannot_release_their_own_case(agent_client, past_limit):
    response = agent_client.post(reverse("recovery:release_issue", args=[past_limit.pk]),
                                 {"reason": "Let me."})
    assert response.status_code == 403
    with pytest.raises(workflow.WorkflowError) as refused:
        workflow.release_issue(past_limit, agent_client.user, "Let me.", step_up=step_up_now())
    assert refused.value.reason == "role"
    assert not IssueRelease.objects.exists()


def test_a_supervisor_who_worked_the_case_cannot_release_it(client, agent_client, past_limit):
    both = staff("agent", "supervisor")
    case = past_limit
    case.team.members.add(both)
    workflow.unclaim(case, agent_client.user)
    workflow.claim(case, both)
    workflow.unclaim(case, both)
    workflow.claim(case, agent_client.user)
    boss = sign_in_client(client.__class__(), both)
    page = boss.get(reverse("recovery:case", args=[case.pk])).content.decode()
    assert f'action="/cases/{case.pk}/release/"' not in page
    response = boss.post(reverse("recovery:release_issue", args=[case.pk]),
                         {"reason": "It's fine."})
    assert response.status_code == 403
    assert "another supervisor must release it" in response.content.decode()
    assert refusals("issue_release", "worked_case").get().actor == both
    assert not IssueRelease.objects.exists()


def test_a_release_needs_a_fresh_step_up(client, past_limit):
    supervisor = staff("supervisor")
    stale = sign_in_client(client.__class__(), supervisor, stepped_up_ago=timedelta(hours=2))
    response = stale.post(reverse("recovery:release_issue", args=[past_limit.pk]),
                          {"reason": "Sound case."})
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:step_up"))
    assert not IssueRelease.objects.exists()
    old = {"device": "otp_totp.totpdevice/1",
           "at": (timezone.now() - timedelta(hours=2)).isoformat()}
    with pytest.raises(workflow.WorkflowError) as refused:
        workflow.release_issue(past_limit, supervisor, "Sound case.", step_up=old)
    assert refused.value.reason == "step_up"
    assert refusals("issue_release", "step_up").get().actor == supervisor
    assert not IssueRelease.objects.exists()


def test_a_release_needs_a_reason_and_a_case_past_the_limit(client, agent_client, past_limit):
    boss = sign_in_client(client.__class__(), staff("supervisor"))
    response = boss.post(reverse("recovery:release_issue", args=[past_limit.pk]), {"reason": ""})
    assert response.status_code == 400
    within = approved_case_of(None, staff("agent"))
    response = boss.post(reverse("recovery:release_issue", args=[within.pk]),
                         {"reason": "Why not."})
    assert response.status_code == 409
    assert refusals("issue_release", "release_not_needed").exists()
    assert not IssueRelease.objects.exists()
