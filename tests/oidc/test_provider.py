"""The built-in directory as an OpenID provider, with authlib as the relying
party: discovery, the authorization code flow with PKCE from a signed-in
session, the token exchange, and an ID token checked against the published
keys (RS256, iss, aud, nonce); what is refused, and key rotation."""

import json
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from auditlog.models import LogEntry
from oauth2_provider.models import Grant

from recovery_console.oidc.demo_relying_party import SignInFailed
from recovery_console.oidc.keys import new_private_key
from recovery_console.oidc.models import Subject
from tests.factories import IdentityFactory, TOTPDeviceFactory, staff
from tests.sessions import sign_in_client

from .support import ISSUER, REDIRECT_URI, SECRET, authorize, person_with_passkey, register

pytestmark = pytest.mark.django_db


def sign_in_to(relying_party, client) -> dict:
    url, pending = relying_party.start()
    response = authorize(client, url)
    assert response.status_code == 302, response.content.decode()
    return relying_party.finish(response["Location"], pending)


def test_discovery_says_what_the_provider_accepts(relying_party):
    metadata = relying_party.metadata()
    assert metadata["issuer"] == ISSUER
    assert metadata["authorization_endpoint"] == f"{ISSUER}/authorize/"
    assert metadata["token_endpoint"] == f"{ISSUER}/token/"
    assert metadata["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256"]
    assert "implicit" not in metadata["grant_types_supported"]
    assert "password" not in metadata["grant_types_supported"]


def test_a_person_signed_in_with_a_passkey_signs_in_to_the_application(client, relying_party,
                                                                       application):
    identity = person_with_passkey(client)
    claims = sign_in_to(relying_party, client)
    assert claims["iss"] == ISSUER and claims["aud"] == application.client_id
    assert claims["amr"] == ["hwk", "pop"]
    assert claims["sub"] == Subject.objects.get(identity=identity).value
    assert claims["sub"] not in (identity.user.username, str(identity.user.pk),
                                 identity.directory_id)
    assert claims["name"] == identity.display_name
    assert claims["email"] == identity.user.email
    entry = LogEntry.objects.get(additional_data__event="application_signed_in")
    assert entry.actor == identity.user and entry.additional_data["amr"] == ["hwk", "pop"]


def test_the_subject_stays_the_same_across_sign_ins_and_a_renamed_account(client,
                                                                          relying_party):
    identity = person_with_passkey(client)
    first = sign_in_to(relying_party, client)["sub"]
    identity.user.username = "renamed"
    identity.user.save()
    assert sign_in_to(relying_party, client)["sub"] == first


def test_names_and_email_come_only_with_their_scopes(client, relying_party):
    person_with_passkey(client)
    url, pending = relying_party.start()
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | {"scope": "openid"}
    response = client.get(f"{parts.path}?{urlencode(query)}")
    claims = relying_party.finish(response["Location"], pending)
    assert "name" not in claims and "email" not in claims and claims["sub"]


def test_a_password_and_authenticator_sign_in_is_not_called_a_passkey(client, relying_party):
    identity = IdentityFactory()
    TOTPDeviceFactory(user=identity.user)
    sign_in_client(client, identity.user)
    assert sign_in_to(relying_party, client)["amr"] == ["pwd", "otp", "mfa"]


def test_someone_not_signed_in_goes_to_the_portal_sign_in_and_back(client, relying_party):
    url, pending = relying_party.start()
    response = authorize(client, url)
    assert response.status_code == 302
    sign_in, _, query = response["Location"].partition("?")
    assert sign_in == "/my/sign-in/"
    back = parse_qs(query)["next"][0]
    assert back.startswith("/oidc/authorize/?")
    assert client.get(f"{sign_in}?{query}").context["next"] == back
    person_with_passkey(client)
    response = client.get(back)
    assert relying_party.finish(response["Location"], pending)["amr"] == ["hwk", "pop"]


def test_a_staff_account_that_is_no_identity_is_refused(client, relying_party):
    sign_in_client(client, staff("agent"))
    url, _ = relying_party.start()
    response = authorize(client, url)
    assert response.status_code == 403
    assert "staff account" in response.content.decode()
    assert not Grant.objects.exists()
    assert LogEntry.objects.filter(additional_data__event="application_sign_in_refused",
                                   additional_data__reason="not_an_identity").exists()


def test_a_request_without_pkce_is_refused(client, relying_party):
    person_with_passkey(client)
    url, _ = relying_party.start()
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()
             if k not in ("code_challenge", "code_challenge_method")}
    response = client.get(f"{parts.path}?{urlencode(query)}")
    assert response.status_code == 302
    assert response["Location"].startswith(REDIRECT_URI)
    assert parse_qs(urlsplit(response["Location"]).query)["error"] == ["invalid_request"]
    assert not Grant.objects.exists()


def test_a_plain_pkce_challenge_is_refused(client, relying_party):
    person_with_passkey(client)
    url, _ = relying_party.start()
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | {
        "code_challenge": "x" * 43, "code_challenge_method": "plain"}
    response = client.get(f"{parts.path}?{urlencode(query)}")
    assert "code" not in parse_qs(urlsplit(response.get("Location", "")).query)
    assert not Grant.objects.exists()
    assert not LogEntry.objects.filter(additional_data__event="application_signed_in").exists()


def test_the_token_exchange_needs_the_right_code_verifier(client, relying_party):
    person_with_passkey(client)
    url, pending = relying_party.start()
    response = authorize(client, url)
    pending.code_verifier = "another-verifier-" + "x" * 40
    with pytest.raises(Exception, match="invalid_grant"):
        relying_party.finish(response["Location"], pending)


@pytest.mark.parametrize("redirect_uri", [
    "https://evil.example.org/callback",
    "https://app.example.org/callback?extra=1",
    "https://app.example.org/callback/",
    "https://app.example.org:8443/callback",
    "http://app.example.org/callback",
])
def test_a_redirect_uri_that_is_not_exactly_a_registered_one_is_refused(client, relying_party,
                                                                        redirect_uri):
    person_with_passkey(client)
    url, _ = relying_party.start()
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | {"redirect_uri": redirect_uri}
    response = client.get(f"{parts.path}?{urlencode(query)}")
    assert response.status_code == 400  # shown here, never sent to the unknown address
    assert "This sign-in request was refused" in response.content.decode()
    assert not Grant.objects.exists()


def test_a_loopback_redirect_uri_is_exact_too(client, provider_settings):
    application = register(redirect_uris="http://127.0.0.1:9000/callback")
    person_with_passkey(client)
    query = {"client_id": application.client_id, "response_type": "code", "scope": "openid",
             "redirect_uri": "http://127.0.0.1:9001/callback", "code_challenge": "x" * 43,
             "code_challenge_method": "S256", "state": "s"}
    assert client.get(f"/oidc/authorize/?{urlencode(query)}").status_code == 400


@pytest.mark.parametrize("response_type", ["token", "id_token", "id_token token",
                                           "code id_token"])
def test_the_implicit_and_hybrid_flows_are_refused(client, relying_party, response_type):
    person_with_passkey(client)
    url, _ = relying_party.start()
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | {
        "response_type": response_type}
    response = client.get(f"{parts.path}?{urlencode(query)}")
    location = response.get("Location", "")
    assert "access_token" not in location and "id_token=" not in location
    assert "error=" in location or response.status_code == 400
    assert not Grant.objects.exists()


def test_an_application_registered_for_the_implicit_flow_is_refused_at_the_endpoint(
        client, provider_settings):
    application = register()
    type(application).objects.filter(pk=application.pk).update(
        authorization_grant_type="implicit")  # as if registered some other way
    person_with_passkey(client)
    query = {"client_id": application.client_id, "response_type": "token", "scope": "openid",
             "redirect_uri": REDIRECT_URI, "nonce": "n", "state": "s"}
    location = client.get(f"/oidc/authorize/?{urlencode(query)}").get("Location", "")
    assert "access_token" not in location and "error=" in location


def test_the_password_grant_is_refused_at_the_token_endpoint(client, application):
    identity = IdentityFactory()
    response = client.post("/oidc/token/", {
        "grant_type": "password", "username": identity.user.username,
        "password": "correct-horse-battery-9", "client_id": application.client_id,
        "client_secret": SECRET, "scope": "openid"})
    assert response.status_code in (400, 401)
    assert json.loads(response.content)["error"] in ("unauthorized_client",
                                                     "unsupported_grant_type")


def test_an_id_token_for_another_nonce_does_not_verify(client, relying_party):
    person_with_passkey(client)
    url, pending = relying_party.start()
    response = authorize(client, url)
    pending.nonce = "somebody-elses-nonce"
    with pytest.raises(SignInFailed, match="nonce"):
        relying_party.finish(response["Location"], pending)


def test_after_a_key_rotation_tokens_signed_with_the_old_key_still_verify(
        client, relying_party, provider_settings):
    person_with_passkey(client)
    url, pending = relying_party.start()
    response = authorize(client, url)
    metadata = relying_party.metadata()
    token = relying_party._client().fetch_token(
        metadata["token_endpoint"], code=parse_qs(urlsplit(response["Location"]).query)[
            "code"][0], code_verifier=pending.code_verifier, redirect_uri=REDIRECT_URI)
    old_kid = relying_party.verify(token["id_token"], pending.nonce, metadata["jwks_uri"])["kid"]

    old = provider_settings.OAUTH2_PROVIDER["OIDC_RSA_PRIVATE_KEY"]
    provider_settings.OAUTH2_PROVIDER = {**provider_settings.OAUTH2_PROVIDER,
                                         "OIDC_RSA_PRIVATE_KEY": new_private_key(),
                                         "OIDC_RSA_PRIVATE_KEYS_INACTIVE": [old]}
    keys = relying_party._http().get(metadata["jwks_uri"]).json()["keys"]
    assert len(keys) == 2 and {key["alg"] for key in keys} == {"RS256"}
    assert relying_party.verify(token["id_token"], pending.nonce, metadata["jwks_uri"])
    new_kid = sign_in_to(relying_party, client)["kid"]
    assert new_kid != old_kid and new_kid == keys[0]["kid"]

    provider_settings.OAUTH2_PROVIDER = {**provider_settings.OAUTH2_PROVIDER,
                                         "OIDC_RSA_PRIVATE_KEYS_INACTIVE": []}
    with pytest.raises(SignInFailed):  # the old key is retired: its tokens are done
        relying_party.verify(token["id_token"], pending.nonce, metadata["jwks_uri"])


def test_a_code_is_single_use(client, relying_party):
    person_with_passkey(client)
    url, pending = relying_party.start()
    location = authorize(client, url)["Location"]
    relying_party.finish(location, pending)
    with pytest.raises(Exception, match="invalid_grant"):
        relying_party.finish(location, pending)


def test_a_password_session_opens_no_application_once_the_persons_wave_enforces(
        client, relying_party):
    from recovery_console.rollout.models import Wave
    from tests.rollout.support import wave_for

    identity = IdentityFactory(department="Finance")
    TOTPDeviceFactory(user=identity.user)
    sign_in_client(client, identity.user)  # signed in with password and code earlier
    wave_for("Finance", Wave.Stage.ENFORCE)

    url, _ = relying_party.start()
    response = authorize(client, url)

    assert response.status_code == 403
    page = response.content.decode()
    assert "requires a passkey" in page and "/recover/" in page
    assert not Grant.objects.exists()
    assert LogEntry.objects.filter(additional_data__event="application_sign_in_refused",
                                   additional_data__reason="passkey_required").exists()


def test_a_passkey_session_still_signs_in_while_the_wave_enforces(client, relying_party):
    from recovery_console.rollout.models import Wave
    from tests.rollout.support import wave_for

    identity = person_with_passkey(client)
    wave_for(identity.department, Wave.Stage.ENFORCE)  # a cohort of everyone
    assert sign_in_to(relying_party, client)["amr"] == ["hwk", "pop"]
