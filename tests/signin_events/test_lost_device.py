"""A passkey the person had when their recovery case opened (they reported
it lost) still signing in: seen by the console's own passkey sign-in or
reported by a sign-in event, it flags the case, alerts, and blocks issuing
until a supervisor who did not work the case reviews it."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

from recovery_console import workflow
from recovery_console.models import Alert, RecoveryCase, RecoveryCredential
from recovery_console.signin_events import workflow as events_workflow
from tests.factories import recovery_case, staff
from tests.recovery.support import approved, events, refusals
from tests.sessions import passkey_for, sign_in_client

from .support import body_of, event, signed_post

pytestmark = pytest.mark.django_db
AUTH_OPTIONS = reverse("accounts:passkey_sign_in_options")
AUTH_VERIFY = reverse("accounts:passkey_sign_in_verify")


def post_json(client, url, payload=None):
    return client.post(url, json.dumps(payload or {}), content_type="application/json")


@pytest.fixture
def agent():
    return staff("agent")


@pytest.fixture
def boss():
    return staff("supervisor")


@pytest.fixture
def case(agent):
    return approved(recovery_case("low", agent=agent), agent)


@pytest.fixture
def lost(case):
    """The passkey the person had before they called: reported lost."""
    return passkey_for(case.identity.user, created_at=case.opened_at - timedelta(days=90))


def sign_in_with(soft) -> int:
    client = Client()
    options = post_json(client, AUTH_OPTIONS).json()
    return post_json(client, AUTH_VERIFY, {"credential": soft.get(options)}).status_code


def issue(agent, case):
    client = sign_in_client(Client(), agent)
    form = client.get(reverse("recovery:case", args=[case.pk])).context["issue_form"]
    return client.post(reverse("recovery:issue", args=[case.pk]),
                       {k: form[k].value() for k in ("key", "replaces")})


def review(user, case, note="Called her back on the number on file: her old phone is with "
                            "her partner, who signed in by mistake.", **session):
    client = sign_in_client(Client(), user, **session)
    return client.post(reverse("recovery:review_lost_device", args=[case.pk]), {"reason": note})


def test_the_lost_passkey_signing_in_to_the_portal_flags_the_case_and_alerts(case, lost):
    assert sign_in_with(lost[1]) == 200
    case.refresh_from_db()
    assert case.lost_device_unreviewed and "signed in to the console" in case.lost_device_detail
    alert = Alert.objects.get(kind=Alert.Kind.LOST_DEVICE_USED)
    assert (alert.case, alert.identity) == (case, case.identity)
    assert events("lost_device_used").get().additional_data["via"] == "console"


def test_a_second_use_before_review_is_audited_without_a_second_alert(case, lost):
    sign_in_with(lost[1])
    sign_in_with(lost[1])
    assert Alert.objects.filter(kind=Alert.Kind.LOST_DEVICE_USED).count() == 1
    assert events("lost_device_used").count() == 2


def test_a_passkey_enrolled_after_the_case_opened_flags_nothing(case):
    _, soft = passkey_for(case.identity.user)
    assert sign_in_with(soft) == 200
    case.refresh_from_db()
    assert not case.lost_device_unreviewed and not Alert.objects.exists()


def test_without_an_open_case_a_sign_in_flags_nothing(agent):
    closed = recovery_case("low", agent=agent)
    workflow.cancel(closed, agent, "Caller hung up.")
    _, soft = passkey_for(closed.identity.user, created_at=closed.opened_at - timedelta(days=1))
    assert sign_in_with(soft) == 200
    assert not Alert.objects.filter(kind=Alert.Kind.LOST_DEVICE_USED).exists()


def test_issuing_is_refused_until_a_supervisor_reviews_then_allowed(agent, boss, case, lost):
    sign_in_with(lost[1])
    page = sign_in_client(Client(), agent).get(reverse("recovery:case", args=[case.pk]))
    assert "issue" not in page.context["actions"]
    assert "A passkey reported lost is still signing in" in page.content.decode()
    response = issue(agent, case)
    assert response.status_code == 409
    assert refusals("credential_issue", "lost_device_unreviewed").filter(actor=agent).exists()
    assert not RecoveryCredential.objects.filter(case=case).exists()

    supervisor_page = sign_in_client(Client(), boss).get(reverse("recovery:case", args=[case.pk]))
    assert "review_lost_device" in supervisor_page.context["actions"]
    assert review(boss, case).status_code == 302
    case.refresh_from_db()
    assert not case.lost_device_unreviewed and case.lost_device_reviewed_by == boss
    entry = events("lost_device_reviewed").get()
    assert entry.actor == boss and "partner" in entry.additional_data["note"]
    assert entry.additional_data["step_up_device"]

    assert issue(agent, case).status_code == 302
    assert RecoveryCredential.objects.filter(case=case).count() == 1


def test_the_cases_agent_may_not_review_it(agent, case, lost):
    agent_and_supervisor = staff("agent", "supervisor")
    sign_in_with(lost[1])
    assert review(agent, case).status_code == 403  # not a supervisor
    RecoveryCase.objects.filter(pk=case.pk).update(agent=agent_and_supervisor)
    response = review(agent_and_supervisor, case)
    assert response.status_code == 403
    assert refusals("lost_device_review", "worked_case").filter(
        actor=agent_and_supervisor).exists()
    case.refresh_from_db()
    assert case.lost_device_unreviewed


def test_a_review_needs_a_fresh_step_up_and_a_note(boss, case, lost):
    sign_in_with(lost[1])
    stale = review(boss, case, stepped_up_ago=timedelta(hours=1))
    assert stale.status_code == 302 and reverse("accounts:step_up") in stale["Location"]
    assert review(boss, case, note="   ").status_code == 400
    case.refresh_from_db()
    assert case.lost_device_unreviewed and not events("lost_device_reviewed").exists()


def test_nothing_to_review_is_refused(boss, case):
    assert review(boss, case).status_code == 409
    assert refusals("lost_device_review", "nothing_to_review").filter(actor=boss).exists()


def test_the_lost_passkey_signing_in_after_issuing_voids_the_live_credential(agent, case, lost):
    issued = workflow.issue_credential(case, agent)
    sign_in_with(lost[1])
    issued.credential.refresh_from_db()
    assert issued.credential.voided_at is not None
    assert issued.credential.void_cause == "lost_device_used"


@pytest.fixture
def relay():
    return events_workflow.create_source("Okta via SIEM", staff("security_admin"))


def test_an_event_with_the_lost_passkeys_credential_id_flags_the_case(client, case, lost, relay):
    passkey, _ = lost
    response = signed_post(client, *relay, body_of(event(
        case.identity.directory_id, credential_id=passkey.credential_id, application="Okta")))
    assert response.status_code == 202
    case.refresh_from_db()
    assert case.lost_device_unreviewed and "Okta via SIEM" in case.lost_device_detail
    assert Alert.objects.filter(kind=Alert.Kind.LOST_DEVICE_USED, case=case).count() == 1
    assert events("lost_device_used").get().additional_data["via"] == "Okta via SIEM"


def test_an_event_from_a_device_seen_before_the_case_opened_flags_it(client, case, relay):
    before = (case.opened_at - timedelta(days=3)).isoformat()
    signed_post(client, *relay, body_of(event(case.identity.directory_id, device_id="phone-1",
                                              occurred_at=before)))
    case.refresh_from_db()
    assert not case.lost_device_unreviewed  # that sign-in was before the case
    signed_post(client, *relay, body_of(event(case.identity.directory_id, device_id="phone-1")))
    case.refresh_from_db()
    assert case.lost_device_unreviewed


def test_an_event_from_another_device_flags_nothing(client, case, lost, relay):
    signed_post(client, *relay, body_of(event(case.identity.directory_id, device_id="new-9")))
    case.refresh_from_db()
    assert not case.lost_device_unreviewed


def test_supervisors_find_the_flagged_case_on_their_approvals_page(boss, case, lost):
    client = sign_in_client(Client(), boss)
    assert "still signing in" not in client.get(reverse("recovery:approvals")).content.decode()
    sign_in_with(lost[1])
    page = client.get(reverse("recovery:approvals")).content.decode()
    assert "A passkey reported lost is still signing in" in page
    assert reverse("recovery:case", args=[case.pk]) in page
    review(boss, case)
    assert "still signing in" not in client.get(reverse("recovery:approvals")).content.decode()
