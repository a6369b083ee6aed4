"""The sign-in events endpoint: a well-signed request from a registered
source is kept once; everything else is refused with nothing recorded (no
event, no nonce, no audit entry)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.test import Client

from recovery_console import clock
from recovery_console.refusal import WorkflowError
from recovery_console.signin_events import signing, tasks, workflow
from recovery_console.signin_events.models import EventNonce, EventSource, SignInEvent
from tests.factories import IdentityFactory, staff
from tests.recovery.support import events

from .support import ENDPOINT, body_of, event, recorded, signed_post

pytestmark = pytest.mark.django_db


@pytest.fixture
def relay():
    source, secret = workflow.create_source("SIEM relay", staff("security_admin"))
    return source, secret


@pytest.fixture
def person():
    return IdentityFactory(directory_id="ada@example.org")


def test_a_signed_request_is_kept_matched_to_the_person_and_answered_202(client, relay, person):
    source, secret = relay
    response = signed_post(client, source, secret, body_of(event(
        "Ada@Example.org", ip="203.0.113.9", country="gb", device_id="dev-1",
        application="Mail")))
    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": 1, "matched": 1}
    kept = SignInEvent.objects.get()
    assert (kept.identity, kept.country, kept.ip, kept.device_id, kept.source) == (
        person, "GB", "203.0.113.9", "dev-1", source)
    assert EventNonce.objects.filter(source=source).count() == 1
    source.refresh_from_db()
    assert source.last_used_at is not None


def test_an_unknown_subject_is_kept_unmatched(client, relay):
    response = signed_post(client, *relay, body_of(event("nobody@example.org")))
    assert response.status_code == 202 and response.json()["matched"] == 0
    assert SignInEvent.objects.get().identity is None


def test_the_same_request_again_is_refused_as_a_replay_and_keeps_nothing(client, relay, person):
    source, secret = relay
    body, at = body_of(event(person.directory_id)), int(clock.now().timestamp())
    assert signed_post(client, source, secret, body, at=at, nonce="n" * 20).status_code == 202
    before = recorded()
    response = signed_post(client, source, secret, body, at=at, nonce="n" * 20)
    assert response.status_code == 409 and response.json()["error"] == "replayed"
    assert recorded() == before


def test_the_same_nonce_from_another_source_is_not_a_replay(client, relay, person):
    other, other_secret = workflow.create_source("Okta hook", staff("security_admin"))
    body = body_of(event(person.directory_id))
    assert signed_post(client, *relay, body, nonce="m" * 20).status_code == 202
    assert signed_post(client, other, other_secret, body, nonce="m" * 20).status_code == 202


@pytest.mark.parametrize("tamper", ["body", "secret", "missing", "garbled", "unknown_key"])
def test_a_bad_or_missing_signature_is_refused_401_with_nothing_recorded(client, relay, person,
                                                                         tamper):
    source, secret = relay
    body = body_of(event(person.directory_id))
    at, nonce = int(clock.now().timestamp()), "a" * 20
    header = {
        "body": signing.header(source.key_id, secret, at, nonce, body + b" "),
        "secret": signing.header(source.key_id, "whsec_wrong", at, nonce, body),
        "missing": "",
        "garbled": "t=1,v1=zz",
        "unknown_key": signing.header("src_0123456789abcdef", secret, at, nonce, body),
    }[tamper]
    before = recorded()
    response = signed_post(client, source, secret, body, header=header)
    assert response.status_code == 401 and response.json()["error"] == "bad_signature"
    assert recorded() == before


def test_a_revoked_source_is_refused_exactly_as_a_bad_signature(client, relay, person):
    source, secret = relay
    workflow.revoke_source(source, staff("security_admin"))
    assert events("signin_source_revoked").count() == 1
    before = recorded()
    response = signed_post(client, source, secret, body_of(event(person.directory_id)))
    assert response.status_code == 401 and response.json()["error"] == "bad_signature"
    assert recorded() == before


# Well past the 5 minutes: a request slowed by a busy machine cannot bring it inside.
@pytest.mark.parametrize("offset", [-330, 330, -86400])
def test_a_stale_or_future_timestamp_is_refused_401_with_nothing_recorded(client, relay, person,
                                                                          offset):
    before = recorded()
    response = signed_post(client, *relay, body_of(event(person.directory_id)),
                           at=int(clock.now().timestamp()) + offset)
    assert response.status_code == 401 and response.json()["error"] == "stale"
    assert recorded() == before


def test_a_timestamp_inside_the_window_is_accepted(client, relay, person):
    response = signed_post(client, *relay, body_of(event(person.directory_id)),
                           at=int(clock.now().timestamp()) - 290)
    assert response.status_code == 202


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "application/xml"])
def test_a_wrong_content_type_is_refused_415_with_nothing_recorded(client, relay, person,
                                                                   content_type):
    before = recorded()
    response = signed_post(client, *relay, body_of(event(person.directory_id)),
                           content_type=content_type)
    assert response.status_code == 415
    assert recorded() == before


def test_an_oversized_body_is_refused_413_before_it_is_read(client, relay, person, settings):
    settings.SIGNIN_EVENTS_MAX_BODY_BYTES = 2000
    body = body_of(*[event(person.directory_id, application="x" * 150)] * 20)
    assert len(body) > 2000
    before = recorded()
    response = signed_post(client, *relay, body)
    assert response.status_code == 413
    assert recorded() == before


def test_a_body_longer_than_its_declared_length_is_read_no_further(relay, person, settings):
    settings.SIGNIN_EVENTS_MAX_BODY_BYTES = 2000
    source, secret = relay
    body = body_of(*[event(person.directory_id, application="x" * 150)] * 20)
    at, nonce = int(clock.now().timestamp()), "b" * 20
    before = recorded()
    response = Client().generic(
        "POST", ENDPOINT, body, content_type="application/json", CONTENT_LENGTH="100",
        HTTP_X_RECOVERY_SIGNATURE=signing.header(source.key_id, secret, at, nonce, body))
    assert response.status_code == 401  # read only as far as declared: the signature fails
    assert recorded() == before


BAD_BODIES = {
    "not json": b"{not json",
    "not an object": b"[]",
    "no events": b"{}",
    "empty list": body_of(),
    "unknown type": body_of({"type": "logout", "subject": "a",
                             "occurred_at": "2026-01-01T00:00:00+00:00"}),
    "no subject": body_of({"type": "sign_in", "occurred_at": "2026-01-01T00:00:00+00:00"}),
    "naive instant": body_of({"type": "sign_in", "subject": "a",
                              "occurred_at": "2026-01-01T00:00:00"}),
    "bad ip": body_of({"type": "sign_in", "subject": "a", "ip": "999.1.1.1",
                       "occurred_at": "2026-01-01T00:00:00+00:00"}),
    "bad country": body_of({"type": "sign_in", "subject": "a", "country": "GBR",
                            "occurred_at": "2026-01-01T00:00:00+00:00"}),
    "flag not boolean": body_of({"type": "sign_in", "subject": "a", "admin": "yes",
                                 "occurred_at": "2026-01-01T00:00:00+00:00"}),
    "unknown field": body_of({"type": "sign_in", "subject": "a", "password": "x",
                              "occurred_at": "2026-01-01T00:00:00+00:00"}),
    "control characters": body_of({"type": "sign_in", "subject": "a\nb",
                                    "occurred_at": "2026-01-01T00:00:00+00:00"}),
    "deeply nested": b"[" * 5000 + b"]" * 5000,
}


@pytest.mark.parametrize("name", BAD_BODIES)
def test_malformed_json_or_schema_is_refused_400_with_nothing_recorded(client, relay, name):
    before = recorded()
    response = signed_post(client, *relay, BAD_BODIES[name])
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "bad_events" and response.json()["detail"]
    assert recorded() == before


def test_one_bad_event_of_a_batch_keeps_none_of_them(client, relay, person):
    good = event(person.directory_id)
    response = signed_post(client, *relay, body_of(good, {**good, "type": "nope"}))
    assert response.status_code == 400 and "Event 2" in response.json()["detail"]
    assert SignInEvent.objects.count() == 0


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_only_post_is_answered(client, method):
    assert getattr(client, method)(ENDPOINT).status_code == 405


def test_registering_a_source_is_audited_and_its_secret_kept_only_sealed():
    admin = staff("security_admin")
    source, secret = workflow.create_source("Entra relay", admin)
    stored = EventSource.objects.get(pk=source.pk)
    assert secret not in stored.secret_sealed and signing.unseal(stored.secret_sealed) == secret
    assert events("signin_source_created").get().actor == admin
    for entry in LogEntry.objects.all():  # the secret is in no entry, sealed or not
        kept = json.dumps([entry.additional_data, entry.changes], default=str)
        assert secret not in kept and stored.secret_sealed not in kept


def test_only_security_admins_register_or_revoke_sources(relay):
    source, _ = relay
    with pytest.raises(WorkflowError):
        workflow.create_source("Sneaky", staff("agent"))
    with pytest.raises(WorkflowError):
        workflow.revoke_source(source, staff("supervisor"))
    assert events("signin_source_create_refused").count() == 1
    assert events("signin_source_revoke_refused").count() == 1
    assert EventSource.objects.filter(revoked_at__isnull=True).count() == 1


def test_beat_prunes_nonces_older_than_twice_the_window(client, relay, person, monkeypatch):
    signed_post(client, *relay, body_of(event(person.directory_id)))
    later = clock.now() + timedelta(minutes=9)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert tasks.prune_nonces() == 0
    much_later = clock.now() + timedelta(minutes=2)
    monkeypatch.setattr(clock, "now", lambda: much_later)
    assert tasks.prune_nonces() == 1
    assert EventNonce.objects.count() == 0
