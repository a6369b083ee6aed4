"""The Entra ID connector, driven against a local server answering as
Microsoft Graph documents (tests/restore/providers/entra.py)."""

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from recovery_console.restore.providers import Kind, ProviderError, Subject
from recovery_console.restore.providers.entra import EntraConnector

from .providers import entra
from .server import Reply


@pytest.fixture
def graph(provider_server):
    provider_server.on("POST", entra.TOKEN_PATH, entra.token())
    return provider_server


def connector(server, timeout=5.0):
    return EntraConnector(tenant=entra.TENANT, client_id="11112222-bbbb-3333-cccc-4444dddd5555",
                          client_secret="sEcReT~value", graph_url=server.url + "/v1.0",
                          login_url=server.url, timeout=timeout)


SUBJECT = Subject(id=entra.USER)


def test_signs_in_with_client_credentials_for_the_graph_scope(graph):
    graph.on("GET", entra.USER_PATH, entra.user())
    found = connector(graph).find_subject(entra.USER)
    assert (found.id, found.login, found.request_id) == (entra.USER, "AdeleV@contoso.com",
                                                         entra.REQUEST_ID)
    [sign_in] = graph.calls("POST", entra.TOKEN_PATH)
    assert sign_in.headers["content-type"] == "application/x-www-form-urlencoded"
    assert sign_in.form() == {"client_id": "11112222-bbbb-3333-cccc-4444dddd5555",
                              "client_secret": "sEcReT~value",
                              "scope": "https://graph.microsoft.com/.default",
                              "grant_type": "client_credentials"}
    [lookup] = graph.calls("GET", entra.USER_PATH)
    assert lookup.query == {"$select": ["id,userPrincipalName"]}
    assert lookup.headers["authorization"].startswith("Bearer eyJ0eXAiOiJKV1Qi")
    uuid.UUID(lookup.headers["client-request-id"])


def test_creates_a_single_use_pass_with_the_policy_lifetime(graph):
    graph.on("POST", entra.PASSES_PATH,
             entra.pass_created(lifetime=45, created="2026-11-30T02:50:09Z"))
    issued = connector(graph).issue_temporary_credential(
        SUBJECT, timedelta(minutes=45), single_use=True, idempotency_key="case-7:attempt-1")
    [create] = graph.calls("POST", entra.PASSES_PATH)
    assert create.json() == {"isUsableOnce": True, "lifetimeInMinutes": 45}
    assert create.headers["content-type"] == "application/json"
    assert create.headers["authorization"] == (
        "Bearer eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsIng1dCI6Ik5HVEZ2ZEst")
    # The same attempt always sends the same client-request-id.
    assert create.headers["client-request-id"] == str(
        uuid.uuid5(uuid.NAMESPACE_URL, "case-7:attempt-1"))
    assert issued.id == entra.PASS_ID and issued.secret == entra.PASS_VALUE
    assert issued.single_use and not issued.delivered_by_provider
    assert issued.expires_at == datetime(2026, 11, 30, 3, 35, 9, tzinfo=UTC)
    assert issued.request_id == entra.REQUEST_ID


def test_a_lifetime_is_kept_within_what_graph_accepts(graph):
    graph.on("POST", entra.PASSES_PATH, entra.pass_created(lifetime=10))
    connector(graph).issue_temporary_credential(SUBJECT, timedelta(minutes=3), True, "k")
    assert graph.calls("POST", entra.PASSES_PATH)[0].json()["lifetimeInMinutes"] == 10


def test_lists_existing_passes_without_their_values(graph):
    graph.on("GET", entra.PASSES_PATH, entra.passes("2026-11-30T02:40:00Z"))
    [existing] = connector(graph).find_temporary_credentials(SUBJECT)
    assert existing.id == entra.PASS_ID and existing.secret == ""
    assert existing.created_at == datetime(2026, 11, 30, 2, 40, tzinfo=UTC)


def test_deletes_every_fido2_passkey(graph):
    graph.on("GET", entra.FIDO2_PATH, entra.fido2_methods("key-1", "key-2"))
    for key in ("key-1", "key-2"):
        graph.on("DELETE", f"{entra.FIDO2_PATH}/{key}", entra.deleted(entra.DELETE_FIDO2))
    outcome = connector(graph).remove_passkeys(SUBJECT)
    assert outcome.removed == ["key-1", "key-2"]
    assert [c.path for c in graph.calls("DELETE")] == [f"{entra.FIDO2_PATH}/key-1",
                                                       f"{entra.FIDO2_PATH}/key-2"]
    assert len(outcome.request_ids) == 3


def test_revokes_sign_in_sessions(graph):
    graph.on("POST", entra.REVOKE_PATH, entra.revoked())
    outcome = connector(graph).revoke_sessions(SUBJECT)
    [call] = graph.calls("POST", entra.REVOKE_PATH)
    assert call.body == b""
    assert outcome.request_ids == [entra.REQUEST_ID]


def test_one_token_serves_several_calls(graph):
    graph.on("POST", entra.REVOKE_PATH, entra.revoked())
    graph.on("GET", entra.USER_PATH, entra.user())
    client = connector(graph)
    client.find_subject(entra.USER)
    client.revoke_sessions(SUBJECT)
    assert len(graph.calls("POST", entra.TOKEN_PATH)) == 1


@pytest.mark.parametrize(("reply", "kind", "code"), [
    (entra.unauthorized, Kind.BAD_CREDENTIALS, "InvalidAuthenticationToken"),
    (entra.forbidden, Kind.BAD_CREDENTIALS, "Authorization_RequestDenied"),
    (entra.not_found, Kind.UNKNOWN_USER, "Request_ResourceNotFound"),
    (entra.conflict, Kind.CONFLICT, "conflict"),
    (entra.unavailable, Kind.PROVIDER_ERROR, "serviceNotAvailable"),
])
def test_each_graph_error_is_classified_with_its_request_id(graph, reply, kind, code):
    graph.on("POST", entra.PASSES_PATH, reply())
    with pytest.raises(ProviderError) as failed:
        connector(graph).issue_temporary_credential(SUBJECT, timedelta(hours=1), True, "k")
    error = failed.value
    assert (error.kind, error.code, error.request_id) == (kind, code, entra.REQUEST_ID)
    assert error.provider == "entra" and error.status == reply().status
    assert "Entra ID" in error.reason and code in error.reason
    assert error.retryable == (kind == Kind.PROVIDER_ERROR)


def test_throttling_carries_retry_after(graph):
    graph.on("POST", entra.PASSES_PATH, entra.throttled(seconds=7))
    with pytest.raises(ProviderError) as failed:
        connector(graph).issue_temporary_credential(SUBJECT, timedelta(hours=1), True, "k")
    assert (failed.value.kind, failed.value.retry_after) == (Kind.THROTTLED, 7)
    assert failed.value.retryable
    assert "wait 7 s" in failed.value.reason


def test_a_refused_client_secret_is_a_set_up_problem(provider_server):
    provider_server.on("POST", entra.TOKEN_PATH, entra.token_refused())
    with pytest.raises(ProviderError) as failed:
        connector(provider_server).find_subject(entra.USER)
    error = failed.value
    assert (error.kind, error.code, error.status) == (Kind.BAD_CREDENTIALS, "invalid_client", 401)
    assert error.request_id == "0000aaaa-11bb-cccc-dd22-eeeeee333333"
    assert not error.retryable
    assert provider_server.calls("GET") == []


def test_no_answer_in_time_is_a_timeout(graph):
    late = threading.Event()
    graph.on("POST", entra.PASSES_PATH, Reply(201, {}, hold=late))
    try:
        with pytest.raises(ProviderError) as failed:
            connector(graph, timeout=0.3).issue_temporary_credential(
                SUBJECT, timedelta(hours=1), True, "k")
    finally:
        late.set()
    assert failed.value.kind == Kind.TIMEOUT and failed.value.retryable
    assert "may or may not" in failed.value.reason


def test_an_unreadable_answer_is_a_provider_error(graph):
    graph.on("POST", entra.PASSES_PATH, Reply(201, b"<html>proxy</html>"))
    with pytest.raises(ProviderError) as failed:
        connector(graph).issue_temporary_credential(SUBJECT, timedelta(hours=1), True, "k")
    assert failed.value.kind == Kind.PROVIDER_ERROR


def test_a_redirect_is_not_followed_with_the_token(graph):
    graph.on("GET", entra.USER_PATH, Reply(302, headers={"Location": "http://127.0.0.2/steal"}))
    with pytest.raises(ProviderError) as failed:
        connector(graph).find_subject(entra.USER)
    assert failed.value.status == 302
