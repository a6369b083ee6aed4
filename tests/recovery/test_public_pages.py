"""Pages for people outside the desk: the self-service request (which never
reveals whether an account exists), the attester's link, the dev outbox."""

import re

import pytest
from django.urls import reverse

from recovery_console import workflow
from recovery_console.models import Attestation, Notice, RecoveryCase
from tests.factories import IdentityFactory, reachable_identity, recovery_case, staff

from .support import (
    attestation_token,
    pass_code_step,
    refusals,
    resolve_self_service_requests,
    step_of,
)

pytestmark = pytest.mark.django_db
REQUEST = reverse("recovery:self_service")


def ask(client, identifier):
    return client.post(REQUEST, {"identifier": identifier})


def ask_and_resolve(client, identifier):
    """The request, then what the worker does with it."""
    response = ask(client, identifier)
    resolve_self_service_requests()
    return response


def test_self_service_request_opens_a_case_and_tells_every_registered_channel(client):
    identity = reachable_identity()
    response = ask_and_resolve(client, identity.channels.get(kind="email").address.upper())
    assert response.status_code == 200
    case = RecoveryCase.objects.get(identity=identity)
    assert case.source == "self_service" and case.opened_by is None
    assert Notice.objects.filter(event="recovery_requested", identity=identity).count() == 2


def test_self_service_answers_the_same_whether_or_not_an_account_exists(client):
    identity = reachable_identity()
    restricted = IdentityFactory(kind="service_account", owner=identity)
    known = ask_and_resolve(client, identity.directory_id)
    unknown = ask_and_resolve(client, "nobody@example.org")
    not_allowed = ask_and_resolve(client, restricted.directory_id)
    already_open = ask_and_resolve(client, identity.directory_id)
    pages = {re.sub(r'name="csrf-token" content="[^"]*"', "", r.content.decode())
             for r in (known, unknown, not_allowed, already_open)}
    assert {r.status_code for r in (known, unknown, not_allowed, already_open)} == {200}
    assert len(pages) == 1
    assert RecoveryCase.objects.count() == 1
    assert refusals("case_open", "unknown_account").exists()
    assert refusals("case_open", "self_service_not_allowed").exists()
    assert refusals("case_open", "already_open").exists()


def test_self_service_rejects_empty_and_oversized_input_without_looking_anything_up(client):
    assert ask(client, "").status_code == 400
    assert ask(client, "a" * 255).status_code == 400
    assert client.get(REQUEST).status_code == 200
    assert not RecoveryCase.objects.exists()


@pytest.fixture
def attesting_case():
    agent = staff("agent")
    case = recovery_case("high", agent=agent)
    pass_code_step(case, agent)
    workflow.request_attestation(case, agent, step_of(case, "attestation"))
    return case


def test_manager_confirms_through_the_link_and_get_changes_nothing(client, attesting_case):
    url = reverse("recovery:attestation", args=[attestation_token(attesting_case)])
    page = client.get(url)
    assert page.status_code == 200
    assert attesting_case.identity.display_name in page.content.decode()
    assert Attestation.objects.get().used_at is None
    assert client.post(url, {"answer": "confirm"}).status_code == 200
    attesting_case.refresh_from_db()
    assert attesting_case.state == RecoveryCase.State.VERIFIED
    again = client.post(url, {"answer": "refuse"})
    assert again.status_code == 409
    assert refusals("attestation_answer", "answered").exists()


def test_an_unknown_attestation_link_is_404(client):
    assert client.get(reverse("recovery:attestation", args=["forged"])).status_code == 404


def test_an_invalid_answer_is_a_form_error(client, attesting_case):
    url = reverse("recovery:attestation", args=[attestation_token(attesting_case)])
    assert client.post(url, {"answer": "maybe"}).status_code == 400
    assert Attestation.objects.get().used_at is None


def test_the_outbox_shows_bodies_only_when_enabled(client, settings, attesting_case):
    settings.DEBUG = False
    settings.DEV_OUTBOX_ENABLED = False
    assert client.get(reverse("recovery:outbox")).status_code == 404
    settings.DEV_OUTBOX_ENABLED = True
    page = client.get(reverse("recovery:outbox")).content.decode()
    assert "Your verification code is" in page
    assert attestation_token(attesting_case) in page


def test_self_service_requests_are_limited_per_address_without_saying_so(client, settings):
    settings.RECOVERY_SELF_SERVICE_MAX_PER_ADDRESS = 2
    for _ in range(2):
        ask(client, "nobody@example.org")
    identity = reachable_identity()
    response = ask_and_resolve(client, identity.directory_id)
    assert response.status_code == 200
    assert "Request received" in response.content.decode()
    assert not RecoveryCase.objects.exists()
    assert refusals("case_open", "throttled").exists()
