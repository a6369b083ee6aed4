"""The recovery credential through HTTP: issued once and read out or sent to
a registered channel; redeemed by POST only; single use, short lived,
attempt-limited; its session only enrols a passkey, which completes the case."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import PasskeyCredential
from recovery_console import clock, workflow
from recovery_console.models import RecoveryCase, RecoveryCredential, RecoverySession
from tests.factories import recovery_case
from tests.sessions import passkey_for, sign_in_client
from tests.soft_authenticator import SoftAuthenticator

from .support import approved, channel_of, redeeming, refusals

pytestmark = pytest.mark.django_db
State = RecoveryCase.State


@pytest.fixture
def low_case(agent):
    return approved(recovery_case("low", agent=agent), agent)


def issue(agent, case, **data):
    """Issue through the case page's form; the page the POST redirects to."""
    client = sign_in_client(Client(), agent)
    form = client.get(reverse("recovery:case", args=[case.pk])).context["issue_form"]
    posted = client.post(reverse("recovery:issue", args=[case.pk]),
                         {**{k: form[k].value() for k in ("key", "replaces")}, **data})
    return client.get(posted["Location"]) if posted.status_code == 302 else posted


def redeem_url(credential):
    return reverse("recovery:redeem", args=[credential.handle])


def post_json(client, url, payload=None):
    return client.post(url, json.dumps(payload or {}), content_type="application/json")


def test_agent_issues_a_credential_shown_once_to_read_out(agent, low_case):
    response = issue(agent, low_case)
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    credential = RecoveryCredential.objects.get(case=low_case)
    page = response.content.decode()
    code = response.context["code"]
    assert code in page and credential.digest not in page
    # Read out on the phone: a short reference and one fixed address, not the link.
    assert credential.reference in page and "localhost:8000/code" in page
    low_case.refresh_from_db()
    assert low_case.state == State.CREDENTIAL_ISSUED


def test_a_credential_goes_only_to_a_registered_channel_of_the_subject(agent, low_case):
    other = recovery_case("low")
    response = issue(agent, low_case, channel=channel_of(other, "email").pk)
    assert response.status_code == 400
    assert not RecoveryCredential.objects.exists()
    response = issue(agent, low_case, channel=channel_of(low_case, "email").pk)
    assert response.status_code == 200
    assert response.context["code"] is None and "Sent to Email" in response.content.decode()


def test_opening_the_link_uses_nothing_and_redeeming_needs_post(client, agent, low_case):
    issued = workflow.issue_credential(low_case, agent)
    for _ in range(3):
        assert client.get(redeem_url(issued.credential)).status_code == 200
    issued.credential.refresh_from_db()
    assert issued.credential.attempts == 0 and issued.credential.used_at is None
    response = client.post(redeem_url(issued.credential), redeeming(issued.code))
    assert response.status_code == 302 and response.url == reverse("recovery:enrol")
    assert client.get(reverse("recovery:enrol")).status_code == 200


def test_a_replayed_credential_is_refused(client, agent, low_case):
    issued = workflow.issue_credential(low_case, agent)
    client.post(redeem_url(issued.credential), redeeming(issued.code))
    again = Client().post(redeem_url(issued.credential), redeeming(issued.code))
    assert again.status_code == 400
    assert "cannot be used" in again.content.decode()
    assert RecoverySession.objects.count() == 1
    assert refusals("credential_redeem", "used").exists()


def test_an_expired_credential_is_refused(client, agent, low_case, monkeypatch):
    issued = workflow.issue_credential(low_case, agent)
    later = timezone.now() + timedelta(minutes=61)
    monkeypatch.setattr(clock, "now", lambda: later)
    response = client.post(redeem_url(issued.credential), redeeming(issued.code))
    assert response.status_code == 400
    assert not RecoverySession.objects.exists()
    assert refusals("credential_redeem", "expired").exists()


def test_a_voided_credential_is_refused(client, agent, low_case):
    first = workflow.issue_credential(low_case, agent)
    workflow.issue_credential(low_case, agent)
    response = client.post(redeem_url(first.credential), redeeming(first.code))
    assert response.status_code == 400
    assert refusals("credential_redeem", "voided").exists()


def test_a_foreign_credential_code_is_refused(client, agent, low_case):
    mine = workflow.issue_credential(low_case, agent)
    theirs = workflow.issue_credential(approved(recovery_case("low", agent=agent), agent), agent)
    response = client.post(redeem_url(mine.credential), redeeming(theirs.code))
    assert response.status_code == 400
    assert "does not match. 4 tries left" in response.content.decode()
    response = client.post(reverse("recovery:redeem", args=["no-such-handle"]),
                           redeeming(theirs.code))
    assert response.status_code == 400
    assert refusals("credential_redeem", "unknown").exists()


def test_an_over_long_code_is_a_form_error_and_counts_nothing(client, agent, low_case):
    issued = workflow.issue_credential(low_case, agent)
    response = client.post(redeem_url(issued.credential), redeeming("A" * 41))
    assert response.status_code == 400
    issued.credential.refresh_from_db()
    assert issued.credential.attempts == 0


def test_the_enrolment_page_needs_a_live_recovery_session(client):
    assert client.get(reverse("recovery:enrol")).status_code == 403
    assert client.post(reverse("recovery:enrol_options")).status_code == 403
    assert client.get(reverse("recovery:enrol_options")).status_code == 405


def test_the_user_enrols_a_passkey_which_completes_the_case_and_the_old_one_stops_working(
        client, agent, low_case, settings):
    settings.WEBAUTHN_ORIGINS = ["http://localhost:8000"]
    user = low_case.identity.user
    old, old_soft = passkey_for(user)
    issued = workflow.issue_credential(low_case, agent)
    client.post(redeem_url(issued.credential), redeeming(issued.code))
    options = post_json(client, reverse("recovery:enrol_options")).json()
    assert options["user"]["name"] == user.username
    soft = SoftAuthenticator()
    response = post_json(client, reverse("recovery:enrol_verify"),
                         {"credential": soft.create(options), "name": "Phone"})
    assert response.status_code == 200, response.content
    assert response.json() == {"redirect": reverse("recovery:recovered")}
    low_case.refresh_from_db()
    assert low_case.state == State.COMPLETED
    old.refresh_from_db()
    assert old.revoked_at is not None
    new = PasskeyCredential.objects.get(user=user, revoked_at__isnull=True)
    assert new.confirmed
    # The session did its one job: it cannot enrol another passkey.
    assert client.get(reverse("recovery:enrol")).status_code == 403
    # The old passkey no longer signs in; the new one does.
    sign_in = Client()
    auth_options = post_json(sign_in, reverse("accounts:passkey_sign_in_options")).json()
    refused = post_json(sign_in, reverse("accounts:passkey_sign_in_verify"),
                        {"credential": old_soft.get(auth_options)})
    assert refused.status_code == 400
    auth_options = post_json(sign_in, reverse("accounts:passkey_sign_in_options")).json()
    accepted = post_json(sign_in, reverse("accounts:passkey_sign_in_verify"),
                         {"credential": soft.get(auth_options)})
    assert accepted.status_code == 200, accepted.content


def test_enrolment_refuses_a_wrong_content_type(client, agent, low_case):
    issued = workflow.issue_credential(low_case, agent)
    client.post(redeem_url(issued.credential), redeeming(issued.code))
    response = client.post(reverse("recovery:enrol_verify"), {"credential": "x"})
    assert response.status_code == 415
    low_case.refresh_from_db()
    assert low_case.state == State.CREDENTIAL_ISSUED


def test_a_bad_passkey_response_completes_nothing_and_is_audited(client, agent, low_case):
    issued = workflow.issue_credential(low_case, agent)
    client.post(redeem_url(issued.credential), redeeming(issued.code))
    post_json(client, reverse("recovery:enrol_options"))
    response = post_json(client, reverse("recovery:enrol_verify"), {"credential": {"id": "x"}})
    assert response.status_code == 400
    assert "error" in response.json()
    low_case.refresh_from_db()
    assert low_case.state == State.CREDENTIAL_ISSUED
    assert not PasskeyCredential.objects.exists()
    assert refusals("case_complete").get().additional_data["reason"].startswith("passkey_")


def test_an_expired_recovery_session_cannot_enrol(client, agent, low_case, monkeypatch):
    issued = workflow.issue_credential(low_case, agent)
    client.post(redeem_url(issued.credential), redeeming(issued.code))
    later = timezone.now() + timedelta(minutes=16)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert client.get(reverse("recovery:enrol")).status_code == 403
    assert client.post(reverse("recovery:enrol_options")).status_code == 403


def test_a_redemption_costs_a_fixed_number_of_statements(agent, low_case,
                                                          django_assert_max_num_queries):
    """Counting the attempt is one statement, then one transaction consumes
    the credential and one writes the browser's new session. (Inside a test's
    transaction each is a savepoint, and the chain links are written when the
    test ends, so they are not in this count.)"""
    issued = workflow.issue_credential(low_case, agent)
    with django_assert_max_num_queries(17):
        response = Client().post(redeem_url(issued.credential), redeeming(issued.code))
    assert response.status_code == 302
