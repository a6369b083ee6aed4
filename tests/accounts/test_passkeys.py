"""Passkey registration and sign-in through HTTP, for staff and end users;
every bad response is refused with a clear error, stores nothing, and is audited."""

import json

import pytest
from auditlog.models import LogEntry
from django.urls import reverse

from accounts.models import PasskeyCredential, RecoveryChannel
from recovery_console.models import Notice
from tests.factories import IdentityFactory, staff
from tests.sessions import passkey_for, sign_in_client
from tests.soft_authenticator import SoftAuthenticator

pytestmark = pytest.mark.django_db

REG_OPTIONS = reverse("accounts:passkey_register_options")
REG_VERIFY = reverse("accounts:passkey_register_verify")
AUTH_OPTIONS = reverse("accounts:passkey_sign_in_options")
AUTH_VERIFY = reverse("accounts:passkey_sign_in_verify")


def post_json(client, url, payload=None, raw=None):
    body = raw if raw is not None else json.dumps(payload or {})
    return client.post(url, body, content_type="application/json")


def start_registration(client):
    response = post_json(client, REG_OPTIONS)
    assert response.status_code == 200, response.content
    return response.json()


def start_sign_in(client):
    response = post_json(client, AUTH_OPTIONS)
    assert response.status_code == 200
    return response.json()


def refusals(event):
    return LogEntry.objects.filter(additional_data__event=event)


@pytest.fixture
def agent(client):
    user = staff("agent")
    sign_in_client(client, user)
    return user


def test_staff_enrols_a_passkey_and_signs_in_with_it(client, agent, django_user_model):
    soft = SoftAuthenticator()
    options = start_registration(client)
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["rp"]["id"] == "localhost"
    response = post_json(client, REG_VERIFY, {"credential": soft.create(options), "name": "Laptop"})
    assert response.status_code == 200
    assert response.json()["redirect"] == reverse("accounts:passkeys")
    passkey = PasskeyCredential.objects.get(user=agent)
    assert passkey.name == "Laptop" and passkey.transports == ["internal"]
    assert refusals("passkey_registered").filter(actor=agent).exists()

    client.logout()
    response = post_json(client, AUTH_VERIFY, {"credential": soft.get(start_sign_in(client))})
    assert response.status_code == 200
    assert response.json()["redirect"] == "/"
    assert client.get(reverse("recovery:queue")).status_code == 200
    passkey.refresh_from_db()
    assert passkey.sign_count == 1 and passkey.last_used_at is not None


def test_registration_excludes_passkeys_already_on_file(client, agent):
    existing, _ = passkey_for(agent)
    options = start_registration(client)
    assert [c["id"] for c in options["excludeCredentials"]] == [existing.credential_id]


def test_end_user_signs_in_with_a_passkey_and_lands_in_the_portal(client):
    identity = IdentityFactory()
    _, soft = passkey_for(identity.user)
    response = post_json(client, AUTH_VERIFY, {"credential": soft.get(start_sign_in(client))})
    assert response.status_code == 200
    assert response.json()["redirect"] == reverse("accounts:passkeys")
    page = client.get(reverse("accounts:passkeys"))
    assert page.status_code == 200 and b"Test passkey" in page.content
    assert client.get(reverse("recovery:queue")).status_code == 403  # not staff


def test_a_replayed_registration_response_is_refused(client, agent):
    soft = SoftAuthenticator()
    credential = soft.create(start_registration(client))
    assert post_json(client, REG_VERIFY, {"credential": credential}).status_code == 200
    response = post_json(client, REG_VERIFY, {"credential": credential})
    assert response.status_code == 400
    assert "No passkey request is in progress" in response.json()["error"]
    assert PasskeyCredential.objects.filter(user=agent).count() == 1
    assert refusals("passkey_registration_refused").get().additional_data["reason"] == \
        "no_challenge"


def test_a_replayed_authentication_response_is_refused(client):
    identity = IdentityFactory()
    _, soft = passkey_for(identity.user)
    credential = soft.get(start_sign_in(client))
    assert post_json(client, AUTH_VERIFY, {"credential": credential}).status_code == 200
    client.logout()
    start_sign_in(client)  # a fresh challenge: the old response does not answer it
    response = post_json(client, AUTH_VERIFY, {"credential": credential})
    assert response.status_code == 400
    assert "_auth_user_id" not in client.session
    assert refusals("passkey_authentication_refused").exists()


@pytest.mark.parametrize("tamper, reason", [
    ({"origin": "https://evil.example"}, "origin"),
    ({"rp_id": "evil.example"}, "RP ID"),
    ({"user_verified": False}, "verif"),
])
def test_a_registration_from_the_wrong_place_or_without_verification_stores_nothing(
        client, agent, tamper, reason):
    soft = SoftAuthenticator()
    credential = soft.create(start_registration(client), **tamper)
    response = post_json(client, REG_VERIFY, {"credential": credential})
    assert response.status_code == 400
    assert reason.lower() in response.json()["error"].lower()
    assert not PasskeyCredential.objects.exists()
    assert refusals("passkey_registration_refused").get().additional_data["reason"] == "invalid"


@pytest.mark.parametrize("tamper", [
    {"origin": "https://evil.example"}, {"rp_id": "evil.example"}, {"user_verified": False}])
def test_a_sign_in_from_the_wrong_place_or_without_verification_is_refused(client, tamper):
    identity = IdentityFactory()
    passkey, soft = passkey_for(identity.user)
    response = post_json(client, AUTH_VERIFY,
                         {"credential": soft.get(start_sign_in(client), **tamper)})
    assert response.status_code == 400
    assert "_auth_user_id" not in client.session
    passkey.refresh_from_db()
    assert passkey.sign_count == 0 and passkey.last_used_at is None
    assert refusals("passkey_authentication_refused").get().object_pk == str(passkey.pk)


def test_a_challenge_from_another_session_is_refused(client, django_user_model):
    from django.test import Client

    identity = IdentityFactory()
    _, soft = passkey_for(identity.user)
    other = Client()
    foreign = soft.get(start_sign_in(other))  # answered for the other session's challenge
    start_sign_in(client)
    response = post_json(client, AUTH_VERIFY, {"credential": foreign})
    assert response.status_code == 400
    assert "_auth_user_id" not in client.session


def test_a_credential_id_already_registered_is_refused(client, agent):
    someone = IdentityFactory()
    _, soft = passkey_for(someone.user)
    credential = soft.create(start_registration(client))
    response = post_json(client, REG_VERIFY, {"credential": credential})
    assert response.status_code == 400
    assert response.json()["error"] == "This passkey is already registered."
    assert not PasskeyCredential.objects.filter(user=agent).exists()


def test_a_cloned_authenticator_with_an_old_sign_count_is_refused(client):
    identity = IdentityFactory()
    passkey, soft = passkey_for(identity.user)
    PasskeyCredential.objects.filter(pk=passkey.pk).update(sign_count=7)
    response = post_json(client, AUTH_VERIFY, {"credential": soft.get(start_sign_in(client))})
    assert response.status_code == 400
    assert "sign count" in response.json()["error"]


@pytest.mark.parametrize("raw, message", [
    ("{" * 10, "not valid JSON"),
    ("[]", "not valid JSON"),
    (json.dumps({"credential": "nope"}), "incomplete"),
    (json.dumps({"credential": {"id": "x"}}), "malformed"),
    (json.dumps({"credential": {"pad": "x" * 20_000}}), "too large"),
])
def test_malformed_or_oversized_responses_get_400_never_500(client, agent, raw, message):
    for options_url, verify_url in [(REG_OPTIONS, REG_VERIFY), (AUTH_OPTIONS, AUTH_VERIFY)]:
        post_json(client, options_url)
        response = post_json(client, verify_url, raw=raw)
        assert response.status_code == 400
        assert message in response.json()["error"]
    assert not PasskeyCredential.objects.exists()


def test_a_disabled_identity_cannot_sign_in_or_register(client):
    identity = IdentityFactory(is_active=False)
    _, soft = passkey_for(identity.user)
    response = post_json(client, AUTH_VERIFY, {"credential": soft.get(start_sign_in(client))})
    assert response.status_code == 400
    assert response.json()["error"] == "This account is disabled."
    assert refusals("passkey_authentication_refused").get().additional_data["reason"] == \
        "disabled"


def test_adding_a_passkey_notifies_every_registered_channel(client):
    identity = IdentityFactory()
    for kind, address in [("email", "a@example.org"), ("phone", "+441234567890")]:
        RecoveryChannel.objects.create(identity=identity, kind=kind, address=address)
    RecoveryChannel.objects.create(identity=identity, kind="email", address="old@example.org",
                                   revoked_at="2026-01-01T00:00Z")
    passkey, _ = passkey_for(identity.user)
    sign_in_client(client, identity.user, device=passkey)
    soft = SoftAuthenticator()
    post_json(client, REG_VERIFY, {"credential": soft.create(start_registration(client))})
    notices = Notice.objects.filter(event="passkey_added")
    assert sorted(n.channel.address for n in notices) == ["+441234567890", "a@example.org"]
    assert all("If this wasn't you" in n.body for n in notices)


def test_an_end_user_revokes_their_own_passkey_and_is_told(client):
    identity = IdentityFactory()
    RecoveryChannel.objects.create(identity=identity, kind="email", address="a@example.org")
    current, _ = passkey_for(identity.user)
    lost, _ = passkey_for(identity.user)
    sign_in_client(client, identity.user, device=current)
    url = reverse("accounts:passkey_revoke", args=[lost.pk])
    assert client.get(url).status_code == 405
    response = client.post(url)
    assert response.status_code == 302
    lost.refresh_from_db()
    assert lost.revoked_at is not None and not lost.confirmed
    assert Notice.objects.filter(event="passkey_revoked", identity=identity).count() == 1
    assert client.post(url).status_code == 404  # already revoked


def test_nobody_can_revoke_someone_elses_passkey(client):
    mine, theirs = IdentityFactory(), IdentityFactory()
    current, _ = passkey_for(mine.user)
    target, _ = passkey_for(theirs.user)
    sign_in_client(client, mine.user, device=current)
    assert client.post(reverse("accounts:passkey_revoke", args=[target.pk])).status_code == 404
    target.refresh_from_db()
    assert target.revoked_at is None


def test_a_revoked_passkey_no_longer_signs_in(client):
    identity = IdentityFactory()
    passkey, soft = passkey_for(identity.user)
    PasskeyCredential.objects.filter(pk=passkey.pk).update(revoked_at="2026-01-01T00:00Z",
                                                           confirmed=False)
    response = post_json(client, AUTH_VERIFY, {"credential": soft.get(start_sign_in(client))})
    assert response.status_code == 400
    assert "revoked" in response.json()["error"]


def test_passkey_endpoints_refuse_get(client, agent):
    for url in (REG_OPTIONS, REG_VERIFY, AUTH_OPTIONS, AUTH_VERIFY):
        assert client.get(url).status_code == 405
