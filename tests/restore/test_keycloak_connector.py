"""The Keycloak connector, driven against a local server answering as the
Keycloak Admin REST API documents (tests/restore/providers/keycloak.py)."""

import threading
from datetime import timedelta

import pytest

from recovery_console.restore.providers import Kind, ProviderError, Subject
from recovery_console.restore.providers.keycloak import KeycloakConnector

from .providers import keycloak
from .server import Reply

SUBJECT = Subject(id=keycloak.USER)


@pytest.fixture
def realm(provider_server):
    provider_server.on("POST", keycloak.TOKEN_PATH, keycloak.token())
    return provider_server


def connector(server, timeout=5.0, **extra):
    return KeycloakConnector(base_url=server.url, realm=keycloak.REALM,
                             client_id="recovery-console", client_secret="kc-secret",
                             timeout=timeout, **extra)


def test_signs_in_as_the_service_account_and_looks_the_person_up(realm):
    realm.on("GET", keycloak.USER_PATH, keycloak.user())
    found = connector(realm).find_subject(keycloak.USER)
    assert (found.id, found.login) == (keycloak.USER, "ibrock")
    [sign_in] = realm.calls("POST", keycloak.TOKEN_PATH)
    assert sign_in.form() == {"grant_type": "client_credentials",
                              "client_id": "recovery-console", "client_secret": "kc-secret"}
    [lookup] = realm.calls("GET")
    assert lookup.headers["authorization"] == (
        "Bearer eyJhbGciOiJSUzI1NiIsInR5cCIgOiAiSldUIiwia2lkIiA6ICJx")


def test_sends_the_passkey_registration_email_with_the_policy_lifespan(realm):
    realm.on("PUT", keycloak.ACTIONS_PATH, keycloak.no_content())
    issued = connector(realm, redirect_client_id="account-console",
                       redirect_uri="https://sso.example.org/realms/staff/account").\
        issue_temporary_credential(SUBJECT, timedelta(minutes=30), True, "case-7:attempt-1")
    [call] = realm.calls("PUT", keycloak.ACTIONS_PATH)
    assert call.json() == ["webauthn-register-passwordless"]
    assert call.query == {"lifespan": ["1800"], "client_id": ["account-console"],
                          "redirect_uri": ["https://sso.example.org/realms/staff/account"]}
    assert call.headers["content-type"] == "application/json"
    assert issued.delivered_by_provider and issued.secret == ""
    assert not issued.single_use  # Keycloak's rule, not claimed by the console


def test_nothing_to_list_before_sending_again(realm):
    assert connector(realm).find_temporary_credentials(SUBJECT) == []
    assert realm.requests == []


def test_deletes_webauthn_credentials_only(realm):
    realm.on("GET", keycloak.CREDENTIALS_PATH, keycloak.credentials("cred-1"))
    realm.on("DELETE", f"{keycloak.CREDENTIALS_PATH}/cred-1", keycloak.no_content())
    outcome = connector(realm).remove_passkeys(SUBJECT)
    assert outcome.removed == ["cred-1"]
    assert [c.path for c in realm.calls("DELETE")] == [f"{keycloak.CREDENTIALS_PATH}/cred-1"]


def test_logs_the_person_out_of_every_session(realm):
    realm.on("POST", keycloak.LOGOUT_PATH, keycloak.no_content())
    connector(realm).revoke_sessions(SUBJECT)
    [call] = realm.calls("POST", keycloak.LOGOUT_PATH)
    assert call.headers["authorization"].startswith("Bearer ")


@pytest.mark.parametrize(("reply", "kind", "words"), [
    (keycloak.unauthorized, Kind.BAD_CREDENTIALS, "HTTP 401 Unauthorized"),
    (keycloak.forbidden, Kind.BAD_CREDENTIALS, "HTTP 403 Forbidden"),
    (keycloak.not_found, Kind.UNKNOWN_USER, "User not found"),
    (keycloak.conflict, Kind.CONFLICT, "User exists with same username"),
    (keycloak.no_email, Kind.REJECTED, "User email missing"),
    (keycloak.email_failed, Kind.PROVIDER_ERROR, "Failed to send execute actions email"),
])
def test_each_admin_api_error_is_classified(realm, reply, kind, words):
    realm.on("PUT", keycloak.ACTIONS_PATH, reply())
    with pytest.raises(ProviderError) as failed:
        connector(realm).issue_temporary_credential(SUBJECT, timedelta(hours=1), True, "k")
    assert failed.value.kind == kind and words in failed.value.reason
    assert failed.value.provider == "keycloak" and failed.value.request_id == ""


def test_throttling_carries_retry_after(realm):
    realm.on("POST", keycloak.LOGOUT_PATH, keycloak.throttled())
    with pytest.raises(ProviderError) as failed:
        connector(realm).revoke_sessions(SUBJECT)
    assert (failed.value.kind, failed.value.retry_after) == (Kind.THROTTLED, 30)


def test_refused_client_credentials_are_a_set_up_problem(provider_server):
    provider_server.on("POST", keycloak.TOKEN_PATH, keycloak.token_refused())
    with pytest.raises(ProviderError) as failed:
        connector(provider_server).find_subject(keycloak.USER)
    assert failed.value.kind == Kind.BAD_CREDENTIALS
    assert failed.value.code == "unauthorized_client"


def test_no_answer_in_time_is_a_timeout(realm):
    late = threading.Event()
    realm.on("PUT", keycloak.ACTIONS_PATH, Reply(204, hold=late))
    try:
        with pytest.raises(ProviderError) as failed:
            connector(realm, timeout=0.3).issue_temporary_credential(
                SUBJECT, timedelta(hours=1), True, "k")
    finally:
        late.set()
    assert failed.value.kind == Kind.TIMEOUT
