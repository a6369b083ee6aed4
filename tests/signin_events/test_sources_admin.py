"""A security admin registers a sign-in event source in the admin, sees its
signing secret once, and revokes it; the next signed request is refused."""

from __future__ import annotations

import pytest
from django.test import Client

from recovery_console.signin_events import signing
from recovery_console.signin_events.models import EventSource
from tests.factories import IdentityFactory, staff
from tests.recovery.support import events
from tests.sessions import sign_in_client

from .support import body_of, event, signed_post

pytestmark = pytest.mark.django_db
SOURCES = "/admin/signin_events/eventsource/"


def test_a_security_admin_registers_a_source_and_sees_its_secret_once():
    person = IdentityFactory()
    admin = sign_in_client(Client(), staff("security_admin", is_staff=True))
    response = admin.post(f"{SOURCES}add/", {"name": "Okta via Splunk"})
    assert response.status_code == 200, response.content.decode()[:2000]
    assert "no-store" in response["Cache-Control"]
    secret = response.context["secret"]
    source = EventSource.objects.get()
    assert secret in response.content.decode() and source.key_id in response.content.decode()
    assert signing.unseal(source.secret_sealed) == secret
    assert events("signin_source_created").count() == 1
    assert secret not in admin.get(f"{SOURCES}{source.pk}/change/").content.decode()

    body = body_of(event(person.directory_id))
    assert signed_post(Client(), source, secret, body).status_code == 202
    response = admin.post(SOURCES, {"action": "revoke", "_selected_action": [source.pk]})
    assert response.status_code == 302
    assert events("signin_source_revoked").count() == 1
    assert signed_post(Client(), source, secret, body).status_code == 401


def test_other_staff_cannot_reach_the_sources():
    supervisor = sign_in_client(Client(), staff("supervisor", is_staff=True))
    assert supervisor.post(f"{SOURCES}add/", {"name": "Mine"}).status_code in (302, 403)
    assert not EventSource.objects.exists()
