"""The Okta connector, driven against a local server answering as Okta's
Management API documents (tests/restore/providers/okta.py)."""

import threading
from datetime import UTC, datetime, timedelta

import pytest

from recovery_console.restore.providers import Kind, ProviderError, Subject
from recovery_console.restore.providers.okta import OktaConnector

from .providers import okta
from .server import Reply

TOKEN = "00QCjAl4MlV-WPXM-ABCDEFGHIJKLMNOPQRSTUVWXYZ"
SUBJECT = Subject(id=okta.USER)


def connector(server, timeout=5.0):
    return OktaConnector(org_url=server.url, api_token=TOKEN,
                         tac_authenticator_id=okta.TAC_AUTHENTICATOR, timeout=timeout)


def test_looks_the_person_up_with_the_api_token(provider_server):
    provider_server.on("GET", okta.USER_PATH, okta.user())
    found = connector(provider_server).find_subject(okta.USER)
    assert (found.id, found.login, found.request_id) == (okta.USER, "isaac.brock@example.com",
                                                         okta.REQUEST_ID)
    [call] = provider_server.calls()
    assert call.headers["authorization"] == f"SSWS {TOKEN}"
    assert call.headers["accept"] == "application/json"


def test_creates_a_single_use_temporary_access_code(provider_server):
    provider_server.on("POST", okta.TAC_PATH,
                       okta.tac_created(created=datetime(2026, 11, 30, 2, 50, 30, tzinfo=UTC)))
    issued = connector(provider_server).issue_temporary_credential(
        SUBJECT, timedelta(minutes=60), single_use=True, idempotency_key="case-7:attempt-1")
    [create] = provider_server.calls("POST", okta.TAC_PATH)
    assert create.json() == {"authenticatorId": okta.TAC_AUTHENTICATOR,
                             "profile": {"ttl": "60", "multiUse": False}}
    assert create.headers["content-type"] == "application/json"
    assert create.headers["authorization"] == f"SSWS {TOKEN}"
    assert (issued.id, issued.secret, issued.single_use) == (okta.TAC_ID, okta.TAC_VALUE, True)
    assert issued.expires_at == datetime(2026, 11, 30, 3, 50, 30, tzinfo=UTC)
    assert issued.request_id == okta.REQUEST_ID


def test_lists_only_temporary_access_codes(provider_server):
    provider_server.on("GET", okta.ENROLLMENTS_PATH, okta.enrollments(okta.TAC_ID))
    [code] = connector(provider_server).find_temporary_credentials(SUBJECT)
    assert code.id == okta.TAC_ID and code.secret == ""


def test_deletes_webauthn_factors_only(provider_server):
    provider_server.on("GET", okta.FACTORS_PATH, okta.factors("fwf2rbx6cfqAbC", "fwf9zzdefG"))
    for factor in ("fwf2rbx6cfqAbC", "fwf9zzdefG"):
        provider_server.on("DELETE", f"{okta.FACTORS_PATH}/{factor}",
                           okta.no_content(okta.FACTORS))
    outcome = connector(provider_server).remove_passkeys(SUBJECT)
    assert outcome.removed == ["fwf2rbx6cfqAbC", "fwf9zzdefG"]
    assert [c.path for c in provider_server.calls("DELETE")] == [
        f"{okta.FACTORS_PATH}/fwf2rbx6cfqAbC", f"{okta.FACTORS_PATH}/fwf9zzdefG"]


def test_revokes_sessions_and_the_tokens_okta_issued(provider_server):
    provider_server.on("DELETE", okta.SESSIONS_PATH, okta.no_content(okta.SESSIONS))
    outcome = connector(provider_server).revoke_sessions(SUBJECT)
    [call] = provider_server.calls()
    assert call.query == {"oauthTokens": ["true"]}
    assert outcome.request_ids == [okta.REQUEST_ID]


@pytest.mark.parametrize(("reply", "kind", "code"), [
    (okta.unauthorized, Kind.BAD_CREDENTIALS, "E0000011"),
    (okta.forbidden, Kind.BAD_CREDENTIALS, "E0000006"),
    (okta.not_found, Kind.UNKNOWN_USER, "E0000007"),
    (okta.conflict, Kind.CONFLICT, "E0000157"),
    (okta.rejected, Kind.REJECTED, "E0000001"),
    (okta.server_error, Kind.PROVIDER_ERROR, "E0000009"),
])
def test_each_okta_error_is_classified_with_its_request_id(provider_server, reply, kind, code):
    provider_server.on("POST", okta.TAC_PATH, reply())
    with pytest.raises(ProviderError) as failed:
        connector(provider_server).issue_temporary_credential(
            SUBJECT, timedelta(hours=1), True, "k")
    error = failed.value
    assert (error.kind, error.code, error.request_id) == (kind, code, okta.REQUEST_ID)
    assert error.provider == "okta" and "Okta" in error.reason and code in error.reason


def test_an_error_cause_is_part_of_the_reason(provider_server):
    provider_server.on("POST", okta.TAC_PATH, okta.rejected())
    with pytest.raises(ProviderError) as failed:
        connector(provider_server).issue_temporary_credential(
            SUBJECT, timedelta(hours=1), True, "k")
    assert "between 10 and 14400" in failed.value.reason
    assert not failed.value.retryable


def test_throttling_waits_until_the_rate_limit_window_resets(provider_server):
    provider_server.on("POST", okta.TAC_PATH, okta.throttled(wait=13))
    with pytest.raises(ProviderError) as failed:
        connector(provider_server).issue_temporary_credential(
            SUBJECT, timedelta(hours=1), True, "k")
    assert (failed.value.kind, failed.value.retry_after) == (Kind.THROTTLED, 13)
    assert failed.value.retryable


def test_no_answer_in_time_is_a_timeout(provider_server):
    late = threading.Event()
    provider_server.on("DELETE", okta.SESSIONS_PATH, Reply(204, hold=late))
    try:
        with pytest.raises(ProviderError) as failed:
            connector(provider_server, timeout=0.3).revoke_sessions(SUBJECT)
    finally:
        late.set()
    assert failed.value.kind == Kind.TIMEOUT
