"""The Persona provider, driven against a local server answering as Persona's
Inquiries API documents (tests/idv/persona.py), and its reading of signed
webhook events."""

import time

import pytest

from recovery_console.idv.providers import FAILED, PASSED, UNDECIDED, CallbackRefused
from recovery_console.idv.providers.persona import PersonaProvider
from recovery_console.restore.providers import Kind, ProviderError

from . import persona

SUBJECT = "recovery-console-identity-42"


def provider(server=None, secret=persona.WEBHOOK_SECRET):
    return PersonaProvider(api_key=persona.API_KEY, webhook_secret=secret,
                           template_id=persona.TEMPLATE,
                           api_url=server.url if server else "http://127.0.0.1:9", timeout=5)


def test_creates_an_inquiry_for_the_subject_then_its_one_time_link(provider_server):
    provider_server.on("POST", persona.INQUIRIES_PATH, persona.inquiry_created(SUBJECT))
    provider_server.on("POST", persona.LINK_PATH, persona.one_time_link(SUBJECT))
    started = provider(provider_server).start(subject=SUBJECT, idempotency_key="case-7:step-3:1")
    assert (started.verification_id, started.link, started.request_id) == (
        persona.INQUIRY, persona.LINK, persona.REQUEST_ID)
    create, link = provider_server.calls()
    assert (create.method, create.path, link.method, link.path) == (
        "POST", persona.INQUIRIES_PATH, "POST", persona.LINK_PATH)
    assert create.json() == {"data": {"attributes": {"inquiry-template-id": persona.TEMPLATE,
                                                     "reference-id": SUBJECT}}}
    for call in (create, link):
        assert call.headers["authorization"] == f"Bearer {persona.API_KEY}"
        assert call.headers["persona-version"] == "2023-01-05"
        assert call.headers["key-inflection"] == "kebab"
        assert call.headers["accept"] == "application/json"
    assert create.headers["content-type"] == "application/json"
    assert create.headers["idempotency-key"] == "case-7:step-3:1"


@pytest.mark.parametrize("reply, kind, status", [
    (persona.unauthorized(), Kind.BAD_CREDENTIALS, 401),
    (persona.unprocessable(), Kind.REJECTED, 422),
    (persona.throttled(), Kind.THROTTLED, 429),
    (persona.server_error(), Kind.PROVIDER_ERROR, 500),
])
def test_a_refused_creation_is_a_provider_error_with_persona_s_words(provider_server, reply,
                                                                       kind, status):
    provider_server.on("POST", persona.INQUIRIES_PATH, reply)
    with pytest.raises(ProviderError) as failed:
        provider(provider_server).start(subject=SUBJECT, idempotency_key="k")
    assert (failed.value.kind, failed.value.status) == (kind, status)
    assert failed.value.request_id == persona.REQUEST_ID
    assert reply.body["errors"][0]["title"] in failed.value.reason
    if status == 429:
        assert failed.value.retry_after == 12
    assert len(provider_server.calls()) == 1  # no link asked for an inquiry that is not there


def test_a_link_that_is_not_https_is_not_sent_to_anyone(provider_server):
    provider_server.on("POST", persona.INQUIRIES_PATH, persona.inquiry_created(SUBJECT))
    provider_server.on("POST", persona.LINK_PATH, persona.Reply(200, {"meta": {
        "one-time-link": "http://evil.example/verify"}}))
    with pytest.raises(ProviderError) as failed:
        provider(provider_server).start(subject=SUBJECT, idempotency_key="k")
    assert failed.value.kind == Kind.PROVIDER_ERROR


def test_an_unreachable_provider_is_a_provider_error():
    with pytest.raises(ProviderError) as failed:
        provider().start(subject=SUBJECT, idempotency_key="k")
    assert failed.value.kind in (Kind.PROVIDER_ERROR, Kind.TIMEOUT)


@pytest.mark.parametrize("name, status, outcome", [
    ("inquiry.approved", "approved", PASSED),
    ("inquiry.declined", "declined", FAILED),
    ("inquiry.failed", "failed", FAILED),
    ("inquiry.completed", "completed", UNDECIDED),
    ("inquiry.started", "pending", UNDECIDED),
])
def test_reads_a_signed_event(name, status, outcome):
    body = persona.event(name, status, SUBJECT)
    at = int(time.time())
    result = provider().read_callback(body, {"Persona-Signature": persona.signature(body, at=at)})
    assert (result.outcome, result.verification_id, result.subject, result.template,
            result.event_id) == (outcome, persona.INQUIRY, SUBJECT, persona.TEMPLATE,
                                 "evt_XGuYWp7WuDzNxie5z16s7sGJ")
    assert result.signed_at.timestamp() == at


def test_either_signature_counts_while_the_secret_rotates():
    body = persona.event("inquiry.approved", "approved", SUBJECT)
    old = persona.signature(body, secret="wbhsec_old")
    new = persona.signature(body)
    assert provider().read_callback(body, {"Persona-Signature": f"{old} {new}"}).outcome == PASSED


@pytest.mark.parametrize("header", [
    lambda body: "",
    lambda body: "t=,v1=",
    lambda body: "garbage",
    lambda body: "v1=abc",
    lambda body: "t=1700000000",
    lambda body: persona.signature(b"another body"),  # signed, but not this body
    lambda body: persona.signature(body, secret="wbhsec_someone_else"),
], ids=["missing", "empty", "garbage", "no_time", "no_hmac", "other_body", "other_secret"])
def test_a_callback_without_a_matching_signature_is_refused(header):
    body = persona.event("inquiry.approved", "approved", SUBJECT)
    with pytest.raises(CallbackRefused) as refused:
        provider().read_callback(body, {"Persona-Signature": header(body)})
    assert refused.value.reason == "bad_signature"


def test_no_secret_configured_checks_nothing_in():
    body = persona.event("inquiry.approved", "approved", SUBJECT)
    with pytest.raises(CallbackRefused):
        provider(secret="").read_callback(body, {"Persona-Signature": persona.signature(
            body, secret="")})


def test_a_signed_body_that_is_not_an_inquiry_event_is_refused():
    for body in (b"not json", b'{"data": {"type": "account"}}', b"[]"):
        with pytest.raises(CallbackRefused) as refused:
            provider().read_callback(body, {"Persona-Signature": persona.signature(body)})
        assert refused.value.reason == "unreadable"
