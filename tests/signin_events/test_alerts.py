"""Inside the watch period after a recovery, a sign-in event raises the
alerts it calls for, linked to the recovery and shown to security admins;
outside it, the event is only kept."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from recovery_console import clock
from recovery_console.models import Alert
from recovery_console.signin_events import workflow
from recovery_console.signin_events.models import SignInEvent
from tests.factories import recovery_case, staff
from tests.sessions import sign_in_client

from .support import body_of, completed_recovery, event, signed_post

pytestmark = pytest.mark.django_db
Kind = Alert.Kind


@pytest.fixture
def relay():
    return workflow.create_source("SIEM relay", staff("security_admin"))


@pytest.fixture
def watched():
    agent = staff("agent")
    return completed_recovery(recovery_case("low", agent=agent), agent)


def send(client, relay, case, **fields):
    response = signed_post(client, *relay, body_of(event(case.identity.directory_id, **fields)))
    assert response.status_code == 202, response.content
    return SignInEvent.objects.order_by("-pk").first()


def kinds(case):
    return sorted(Alert.objects.filter(case=case).exclude(
        kind=Kind.PASSKEY_ENROLMENT).values_list("kind", flat=True))


def test_admin_access_in_the_watch_period_alerts_linked_to_the_recovery(client, relay, watched):
    kept = send(client, relay, watched, type="admin_access", application="Okta Admin Console")
    assert kept.case == watched
    alert = Alert.objects.get(kind=Kind.ADMIN_ACCESS)
    assert (alert.case, alert.identity) == (watched, watched.identity)
    assert "Okta Admin Console" in alert.detail and "SIEM relay" in alert.detail


def test_the_admin_flag_on_a_sign_in_alerts_as_admin_access(client, relay, watched):
    send(client, relay, watched, admin=True)
    assert kinds(watched) == [Kind.ADMIN_ACCESS]


def test_a_device_not_seen_before_alerts_once(client, relay, watched):
    send(client, relay, watched, device_id="laptop-7")
    send(client, relay, watched, device_id="laptop-7")
    assert kinds(watched) == [Kind.NEW_DEVICE]


def test_the_passkey_enrolled_in_the_recovery_is_not_a_new_device(client, relay, watched):
    passkey = watched.identity.user.passkeycredential_set.get(revoked_at__isnull=True)
    send(client, relay, watched, credential_id=passkey.credential_id)
    assert kinds(watched) == []


def test_a_device_added_in_the_watch_period_alerts(client, relay, watched):
    send(client, relay, watched, type="device_added", device_id="yubikey-2")
    assert kinds(watched) == [Kind.NEW_DEVICE]


def test_a_sign_in_through_an_anonymising_proxy_alerts(client, relay, watched):
    send(client, relay, watched, anonymous_proxy=True, ip="198.51.100.20")
    assert kinds(watched) == [Kind.ANONYMOUS_PROXY]


def test_a_country_not_seen_before_alerts_but_a_known_one_does_not(client, relay, watched,
                                                                   monkeypatch):
    send(client, relay, watched, country="GB")  # the first: nothing to compare with
    assert kinds(watched) == []
    later = clock.now() + timedelta(minutes=5)
    monkeypatch.setattr(clock, "now", lambda: later)
    send(client, relay, watched, country="GB")
    assert kinds(watched) == []
    later = later + timedelta(minutes=5)
    send(client, relay, watched, country="KP")
    assert kinds(watched) == [Kind.NEW_COUNTRY]


def test_after_the_watch_period_nothing_alerts(client, relay, watched, monkeypatch):
    after = watched.watch_until + timedelta(minutes=1)
    monkeypatch.setattr(clock, "now", lambda: after)
    kept = send(client, relay, watched, admin=True, anonymous_proxy=True, device_id="x1")
    assert kept.case is None and kinds(watched) == []


def test_an_event_from_before_the_recovery_completed_raises_nothing(client, relay, watched):
    before = (watched.closed_at - timedelta(minutes=1)).isoformat()
    send(client, relay, watched, admin=True, occurred_at=before)
    assert kinds(watched) == []


def test_the_security_admins_alerts_page_links_the_alert_to_case_and_person(client, relay,
                                                                            watched):
    send(client, relay, watched, type="admin_access", application="Entra admin center")
    sign_in_client(client, staff("security_admin"))
    page = client.get(reverse("recovery:alerts")).content.decode()
    assert "Admin access in the watch period" in page
    assert reverse("recovery:case", args=[watched.pk]) in page
    assert watched.identity.display_name in page
