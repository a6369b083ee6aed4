"""An identity verification step through HTTP: the agent starts it from the
case page (the provider's link to a registered channel, never one the caller
gives), and only the provider's signed, fresh callback for that very
verification and person decides it. Every refused callback changes nothing
and is audited; with no provider configured the step is off everywhere."""

import re
import time
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

from recovery_console import clock
from recovery_console.idv.models import IdentityVerification, ProviderEvent
from recovery_console.idv.workflow import subject_for
from recovery_console.models import Evidence, Notice, RecoveryCase, ScriptStep, VerificationScript
from tests.admin_forms import change
from tests.factories import IdentityFactory, RecoveryChannelFactory, recovery_case, staff
from tests.recovery.support import events, refusals
from tests.sessions import sign_in_client

from . import persona

pytestmark = pytest.mark.django_db
State = RecoveryCase.State


def with_idv_script(case: RecoveryCase) -> ScriptStep:
    """The case's script becomes one required provider check (test set-up)."""
    script = VerificationScript.objects.create(name=f"Provider check {case.pk}")
    step = ScriptStep.objects.create(script=script, position=1, kind="idv",
                                     title="Document and liveness check",
                                     instructions="Send the person the provider's link.")
    RecoveryCase.objects.filter(pk=case.pk).update(script=script)
    case.refresh_from_db()
    return step


@pytest.fixture
def case(agent):
    case = recovery_case("low", agent=agent)
    with_idv_script(case)
    return case


@pytest.fixture
def desk(client, agent):
    return sign_in_client(client, agent)


def step_url(case):
    return reverse("recovery:step", args=[case.pk, case.script.steps.get().pk])


def start(desk, case, server, channel_kind="email"):
    server.on("POST", persona.INQUIRIES_PATH, persona.inquiry_created(subject_for(case)))
    server.on("POST", persona.LINK_PATH, persona.one_time_link(subject_for(case)))
    channel = case.identity.channels.get(kind=channel_kind)
    return desk.post(step_url(case), {"action": "start_idv", "channel": channel.pk})


def post_callback(_signed_in, body: bytes, signature: str | None = None, **extra):
    client = Client()  # the provider: no session of anyone
    headers = {"HTTP_PERSONA_SIGNATURE": persona.signature(body) if signature is None
               else signature}
    return client.post(reverse("idv:callback"), data=body,
                       content_type=extra.pop("content_type", "application/json"),
                       **headers, **extra)


def nothing_recorded(case):
    case.refresh_from_db()
    assert case.state == State.VERIFYING
    assert not Evidence.objects.filter(case=case).exists()
    assert not ProviderEvent.objects.exists()
    assert IdentityVerification.objects.filter(case=case, result="").count() == 1


def test_the_agent_starts_it_and_the_link_goes_to_the_registered_channel(
        desk, case, agent, persona_configured):
    answer = start(desk, case, persona_configured)
    assert answer.status_code == 302
    create, link = persona_configured.calls()
    assert create.json()["data"]["attributes"] == {
        "inquiry-template-id": persona.TEMPLATE, "reference-id": subject_for(case)}
    step = case.script.steps.get()
    assert create.headers["idempotency-key"] == f"case-{case.pk}:step-{step.pk}:1"
    assert link.path == persona.LINK_PATH
    verification = IdentityVerification.objects.get(case=case)
    email = case.identity.channels.get(kind="email")
    assert (verification.external_id, verification.channel, verification.started_by) == (
        persona.INQUIRY, email, agent)
    [notice] = Notice.objects.filter(event="recovery_identity_verification")
    assert (notice.channel, notice.identity, notice.carries_secret) == (email, case.identity,
                                                                         True)
    assert persona.LINK in notice.body
    [started] = events("idv_started")
    assert started.actor == agent
    assert started.additional_data["verification"] == persona.INQUIRY
    page = desk.get(reverse("recovery:case", args=[case.pk])).content.decode()
    assert "Waiting for Persona" in page
    assert "Identity verification started at Persona" in page  # the timeline's words


def test_a_channel_the_caller_gives_cannot_be_chosen(desk, case, persona_configured):
    stranger = RecoveryChannelFactory(identity=IdentityFactory(), kind="email",
                                      address="caller@evil.example")
    answer = desk.post(step_url(case), {"action": "start_idv", "channel": stranger.pk})
    assert answer.status_code == 400
    assert not IdentityVerification.objects.exists()
    assert persona_configured.calls() == []
    assert not Notice.objects.filter(event="recovery_identity_verification").exists()


def test_the_provider_refusing_to_start_changes_nothing_and_says_why(
        desk, case, persona_configured):
    persona_configured.on("POST", persona.INQUIRIES_PATH, persona.unauthorized())
    answer = desk.post(step_url(case), {"action": "start_idv",
                                        "channel": case.identity.channels.get(kind="email").pk})
    assert answer.status_code == 409
    assert "Persona refused" in answer.content.decode()
    assert not IdentityVerification.objects.exists()
    assert not Notice.objects.filter(event="recovery_identity_verification").exists()
    [refused] = refusals("idv_start", "idv_provider_error")
    assert refused.additional_data["kind"] == "bad_credentials"


def test_an_approved_signed_callback_passes_the_step_and_verifies_the_case(
        client, desk, case, persona_configured):
    start(desk, case, persona_configured)
    body = persona.event("inquiry.approved", "approved", subject_for(case))
    answer = post_callback(client, body)
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"status": "taken"}
    [evidence] = Evidence.objects.filter(case=case)
    assert (evidence.result, evidence.actor, evidence.details["verification"]) == (
        "passed", None, persona.INQUIRY)
    case.refresh_from_db()
    assert case.state == State.APPROVED  # low tier: verified, and no supervisor needed
    verification = IdentityVerification.objects.get(case=case)
    assert (verification.result, verification.evidence) == ("passed", evidence)
    [taken] = events("idv_result_taken")
    assert taken.additional_data["event_id"] == "evt_XGuYWp7WuDzNxie5z16s7sGJ"
    page = desk.get(reverse("recovery:case", args=[case.pk])).content.decode()
    assert "Persona reported the identity check passed" in page


@pytest.mark.parametrize("name, status", [("inquiry.declined", "declined"),
                                          ("inquiry.failed", "failed")])
def test_a_declined_result_is_failing_evidence(client, desk, case, persona_configured, name,
                                               status):
    start(desk, case, persona_configured)
    answer = post_callback(client, persona.event(name, status, subject_for(case)))
    assert answer.status_code == 200
    [evidence] = Evidence.objects.filter(case=case)
    assert evidence.result == "failed"
    case.refresh_from_db()
    assert case.state == State.VERIFYING


def test_an_event_that_decides_nothing_is_acknowledged_and_changes_nothing(
        client, desk, case, persona_configured):
    start(desk, case, persona_configured)
    answer = post_callback(client, persona.event("inquiry.completed", "completed",
                                                 subject_for(case)))
    assert (answer.status_code, answer.json()) == (200, {"status": "ignored"})
    nothing_recorded(case)


def _other_secret(case):
    body = persona.event("inquiry.approved", "approved", subject_for(case))
    return body, persona.signature(body, secret="wbhsec_guessed")


def _stale(case):
    body = persona.event("inquiry.approved", "approved", subject_for(case))
    return body, persona.signature(body, at=int(time.time()) - 301)


def _future(case):
    body = persona.event("inquiry.approved", "approved", subject_for(case))
    return body, persona.signature(body, at=int(time.time()) + 301)


def _unknown(case):
    body = persona.event("inquiry.approved", "approved", subject_for(case),
                         inquiry="inq_SomeoneElsesInquiry00000")
    return body, None


def _other_person(case):
    return persona.event("inquiry.approved", "approved", "recovery-console-identity-0"), None


def _other_template(case):
    return persona.event("inquiry.approved", "approved", subject_for(case),
                         template="itmpl_SelfieOnlyCheapCheck"), None


def _older_than_the_verification(case):
    return persona.event("inquiry.approved", "approved", subject_for(case),
                         created="2026-01-01T00:00:00.000Z"), None


def _unsigned(case):
    return persona.event("inquiry.approved", "approved", subject_for(case)), ""


def _not_an_event(case):
    return b'{"data": {"type": "inquiry"}}', None


@pytest.mark.parametrize("forge, status, reason", [
    (_unsigned, 401, "bad_signature"),
    (_other_secret, 401, "bad_signature"),
    (_stale, 400, "stale_callback"),
    (_future, 400, "stale_callback"),
    (_unknown, 404, "unknown_verification"),
    (_other_person, 400, "subject_mismatch"),
    (_other_template, 400, "template_mismatch"),
    (_older_than_the_verification, 400, "stale_result"),
    (_not_an_event, 400, "unreadable"),
], ids=lambda v: getattr(v, "__name__", str(v)))
def test_a_callback_that_is_not_the_provider_s_fresh_result_is_refused(
        client, desk, case, persona_configured, forge, status, reason):
    start(desk, case, persona_configured)
    body, signature = forge(case)
    answer = post_callback(client, body, signature)
    assert (answer.status_code, answer.json()["error"]) == (status, reason)
    nothing_recorded(case)
    [refused] = refusals("idv_callback", reason)
    assert refused.actor is None


def test_a_replayed_result_is_refused_even_freshly_re_signed(client, desk, case,
                                                              persona_configured):
    start(desk, case, persona_configured)
    body = persona.event("inquiry.declined", "declined", subject_for(case))
    assert post_callback(client, body).status_code == 200
    again = post_callback(client, body, persona.signature(body, at=int(time.time()) + 1))
    assert (again.status_code, again.json()["error"]) == (409, "replayed_event")
    other = persona.event("inquiry.approved", "approved", subject_for(case),
                          event_id="evt_AnotherEventSameInquiry00")
    later = post_callback(client, other)
    assert (later.status_code, later.json()["error"]) == (409, "replayed_event")
    assert Evidence.objects.filter(case=case).count() == 1
    assert refusals("idv_callback", "replayed_event").count() == 2


def test_a_result_after_the_verification_expired_is_refused(client, desk, case,
                                                            persona_configured, monkeypatch,
                                                            settings):
    start(desk, case, persona_configured)
    later = clock.now() + timedelta(minutes=settings.IDV_VERIFICATION_MINUTES + 1)
    monkeypatch.setattr(clock, "now", lambda: later)
    body = persona.event("inquiry.approved", "approved", subject_for(case))
    answer = post_callback(client, body, persona.signature(body, at=int(later.timestamp())))
    assert answer.json()["error"] == "verification_expired"
    nothing_recorded(case)


def test_a_newer_start_replaces_the_one_sent(client, desk, case, persona_configured):
    start(desk, case, persona_configured)
    IdentityVerification.objects.update(external_id="inq_FirstOneSentEarlier00000")
    start(desk, case, persona_configured)
    body = persona.event("inquiry.approved", "approved", subject_for(case),
                         inquiry="inq_FirstOneSentEarlier00000")
    answer = post_callback(client, body)
    assert answer.json()["error"] == "verification_replaced"
    assert not Evidence.objects.filter(case=case).exists()


def test_wrong_content_type_and_oversized_bodies_are_refused_before_anything(
        client, desk, case, persona_configured, settings):
    start(desk, case, persona_configured)
    body = persona.event("inquiry.approved", "approved", subject_for(case))
    answer = post_callback(client, body, content_type="text/plain")
    assert answer.status_code == 415
    settings.IDV_CALLBACK_MAX_BYTES = 100
    assert post_callback(client, body).status_code == 413
    nothing_recorded(case)
    assert not refusals("idv_callback").exists()


def test_the_callback_answers_post_only(client, persona_configured):
    assert client.get(reverse("idv:callback")).status_code == 405


def test_the_agent_cannot_tick_the_step(desk, case, persona_configured):
    for action in ("record", "send", "check"):
        answer = desk.post(step_url(case), {"action": action, "result": "passed",
                                            "note": "Looked fine to me."})
        assert answer.status_code == 400
    from recovery_console import workflow

    with pytest.raises(workflow.WorkflowError) as refused:
        workflow.record_evidence(case, case.agent, case.script.steps.get(), note="Trust me.")
    assert refused.value.reason == "wrong_step_kind"
    assert not Evidence.objects.filter(case=case).exists()


# --- off unless configured ---------------------------------------------------------

def test_without_a_provider_the_case_page_says_it_is_not_available(desk, case, no_provider):
    page = desk.get(reverse("recovery:case", args=[case.pk])).content.decode()
    assert "Not available: no identity verification provider is configured" in page
    assert 'value="start_idv"' not in page


def test_without_a_provider_starting_is_refused_and_audited(desk, case, no_provider):
    answer = desk.post(step_url(case), {"action": "start_idv",
                                        "channel": case.identity.channels.get(kind="email").pk})
    assert answer.status_code == 409
    assert refusals("idv_start", "idv_not_configured").count() == 1
    assert not IdentityVerification.objects.exists()


def test_without_a_provider_the_callback_is_not_there(client, no_provider):
    body = persona.event("inquiry.approved", "approved", "recovery-console-identity-1")
    assert post_callback(client, body).status_code == 404


def test_the_admin_refuses_an_idv_step_without_a_provider(client, no_provider):
    sign_in_client(client, staff("security_admin", is_staff=True))
    script = VerificationScript.objects.create(name="Desk check")
    ScriptStep.objects.create(script=script, position=1, kind="callback", title="Call back",
                              instructions="Call the directory number.")
    answer = change(client, script, **{"steps-0-kind": "idv"})
    assert answer.status_code == 200
    assert "No identity verification provider is configured" in answer.content.decode()
    assert script.steps.get().kind == "callback"


def test_the_admin_saves_an_idv_step_with_a_provider(client, persona_configured):
    sign_in_client(client, staff("security_admin", is_staff=True))
    script = VerificationScript.objects.create(name="Desk check")
    ScriptStep.objects.create(script=script, position=1, kind="callback", title="Call back",
                              instructions="Call the directory number.")
    answer = change(client, script, **{"steps-0-kind": "idv"})
    assert answer.status_code == 302
    assert script.steps.get().kind == "idv"


def test_the_notice_is_the_only_place_the_link_is_kept_until_delivered(desk, case,
                                                                        persona_configured):
    start(desk, case, persona_configured)
    assert not re.search(r"verify\?code=", str(events("idv_started").get().additional_data))


def test_a_flood_of_callbacks_is_cut_short(client, desk, case, persona_configured, settings):
    settings.RATE_LIMIT_IDV_CALLBACKS_PER_ADDRESS = 2
    start(desk, case, persona_configured)
    forged = persona.event("inquiry.approved", "approved", subject_for(case))
    for _ in range(2):
        assert post_callback(client, forged, "t=1,v1=00").status_code == 401
    flooded = post_callback(client, forged)  # even a good one, from that address, waits
    assert (flooded.status_code, flooded["Retry-After"]) == (429, "60")
    nothing_recorded(case)
    assert events("rate_limited").filter(additional_data__limit="idv-callback").count() == 1
