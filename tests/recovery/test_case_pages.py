"""The case page and its step forms through HTTP: only the actions the viewer
may take, each bad input refused with a message, nothing changed, audited."""

import pytest
from django.test import Client
from django.urls import reverse

from recovery_console.models import Evidence, Notice, RecoveryCase
from tests.factories import recovery_case, staff
from tests.sessions import sign_in_client

from .support import channel_of, code_sent, refusals, step_of

pytestmark = pytest.mark.django_db
State = RecoveryCase.State


@pytest.fixture
def agent_client(client, agent):
    return sign_in_client(client, agent)


def case_url(case):
    return reverse("recovery:case", args=[case.pk])


def step_url(case, kind):
    return reverse("recovery:step", args=[case.pk, step_of(case, kind).pk])


def test_case_page_shows_subject_tier_reasons_channels_and_script(agent_client, agent):
    case = recovery_case("high", agent=agent)
    page = agent_client.get(case_url(case)).content.decode()
    assert "Works with highly sensitive data." in page
    assert channel_of(case, "phone").masked_address in page
    assert channel_of(case, "phone").address not in page
    assert step_of(case, "attestation").instructions.split(".")[0] in page
    assert "Send code" in page and "Give back to the queue" in page
    assert "Issue credential" not in page  # not approved yet


def test_an_unclaimed_case_offers_only_claiming(client):
    case = recovery_case("low")
    sign_in_client(client, staff("agent"))
    page = client.get(case_url(case)).content.decode()
    assert "Claim this case" in page
    assert "Send code" not in page and "Cancel case" not in page


def test_auditor_sees_a_case_but_no_action(client, agent):
    case = recovery_case("low", agent=agent)
    sign_in_client(client, staff("auditor"))
    page = client.get(case_url(case))
    assert page.status_code == 200
    assert "What you can do now" not in page.content.decode()
    response = client.post(step_url(case, "channel_code"), {"action": "send"})
    assert response.status_code == 403  # role, before anything else


def test_agent_sends_and_checks_a_code_through_the_page_and_a_low_case_is_approved(
        agent_client, agent):
    case = recovery_case("low", agent=agent)
    response = agent_client.post(step_url(case, "channel_code"),
                                 {"action": "send", "channel": channel_of(case).pk})
    assert response.status_code == 302
    response = agent_client.post(step_url(case, "channel_code"),
                                 {"action": "check", "code": code_sent(case)})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.state == State.APPROVED
    assert "Issue credential" in agent_client.get(case_url(case)).content.decode()


def test_a_code_cannot_be_sent_to_a_channel_of_someone_else(agent_client, agent):
    case = recovery_case("low", agent=agent)
    other = recovery_case("low")
    response = agent_client.post(step_url(case, "channel_code"),
                                 {"action": "send", "channel": channel_of(other).pk})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not Notice.objects.filter(event="recovery_channel_code").exists()


def test_a_wrong_code_is_shown_as_failed_and_counted(agent_client, agent):
    case = recovery_case("low", agent=agent)
    agent_client.post(step_url(case, "channel_code"),
                      {"action": "send", "channel": channel_of(case).pk})
    wrong = f"{(int(code_sent(case)) + 1) % 1_000_000:06d}"
    response = agent_client.post(step_url(case, "channel_code"),
                                 {"action": "check", "code": wrong}, follow=True)
    assert "Wrong code read back (4 tries left)." in response.content.decode()
    assert case.channel_codes.get().attempts == 1


def test_skipping_a_step_by_posting_to_a_later_one_is_refused(agent_client, agent):
    case = recovery_case("medium", agent=agent)
    response = agent_client.post(step_url(case, "callback"),
                                 {"action": "record", "result": "passed", "note": "Answered."})
    assert response.status_code == 409
    assert "Finish step 1" in response.content.decode()
    assert not Evidence.objects.exists()
    assert refusals("evidence_record", "step_order").get().actor == agent


def test_skipping_to_issuing_or_approval_is_refused(agent_client, agent):
    case = recovery_case("high", agent=agent)
    response = agent_client.post(reverse("recovery:issue", args=[case.pk]))
    assert response.status_code == 409
    assert "cannot issue a credential while the case is verifying" in response.content.decode()
    response = agent_client.post(reverse("recovery:request_approval", args=[case.pk]))
    assert response.status_code == 409
    case.refresh_from_db()
    assert case.state == State.VERIFYING
    assert refusals("credential_issue", "state").exists()
    assert refusals("approval_request", "state").exists()


def test_an_over_long_note_is_a_400_and_changes_nothing(agent_client, agent):
    case = recovery_case("medium", agent=agent)
    from .support import pass_code_step

    pass_code_step(case, agent)
    response = agent_client.post(step_url(case, "callback"),
                                 {"action": "record", "result": "passed", "note": "x" * 501})
    assert response.status_code == 400
    assert "The note is too long" in response.content.decode()
    assert case.evidence.count() == 1  # only the code
    assert refusals("evidence_record", "note_length").exists()


def test_a_posted_state_or_tier_is_ignored(agent_client, agent):
    case = recovery_case("high", agent=agent)
    from .support import pass_code_step

    pass_code_step(case, agent)
    agent_client.post(step_url(case, "attestation"),
                      {"action": "request", "state": "approved", "tier": "low",
                       "approvals_required": "0"})
    case.refresh_from_db()
    assert case.state == State.VERIFYING and case.tier == "high"
    assert case.rules.approvals_required == 1


def test_an_unknown_step_action_is_a_400(agent_client, agent):
    case = recovery_case("low", agent=agent)
    response = agent_client.post(step_url(case, "channel_code"), {"action": "approve"})
    assert response.status_code == 400


def test_state_changing_urls_refuse_get(agent_client, agent):
    case = recovery_case("low", agent=agent)
    for name in ("claim", "unclaim", "request_approval", "issue", "cancel"):
        assert agent_client.get(reverse(f"recovery:{name}", args=[case.pk])).status_code == 405
    assert agent_client.get(step_url(case, "channel_code")).status_code == 405


def test_missing_csrf_token_is_refused(agent):
    case = recovery_case("low")
    client = sign_in_client(Client(enforce_csrf_checks=True), agent)
    assert client.post(reverse("recovery:claim", args=[case.pk])).status_code == 403
    case.refresh_from_db()
    assert case.agent is None


def test_cancelling_needs_a_reason(agent_client, agent):
    case = recovery_case("low", agent=agent)
    url = reverse("recovery:cancel", args=[case.pk])
    response = agent_client.post(url, {"reason": ""})
    assert response.status_code == 400
    response = agent_client.post(url, {"reason": "y" * 501})
    assert response.status_code == 400 and "too long" in response.content.decode()
    assert refusals("case_cancel", "reason_length").exists()
    assert agent_client.post(url, {"reason": "Duplicate of another case."}).status_code == 302
    case.refresh_from_db()
    assert case.state == State.CANCELLED


def test_agent_opens_a_desk_case_by_directory_id(agent_client, agent):
    from tests.factories import reachable_identity

    identity = reachable_identity()
    response = agent_client.post(reverse("recovery:open_case"),
                                 {"directory_id": identity.directory_id})
    case = RecoveryCase.objects.get(identity=identity)
    assert response.status_code == 302 and response.url == case_url(case)
    assert case.source == "desk" and case.opened_by == agent
    response = agent_client.post(reverse("recovery:open_case"), {"directory_id": "nobody"})
    assert response.status_code == 400


def test_a_completed_case_tells_its_whole_story(client, agent):
    from recovery_console import workflow
    from tests.sessions import passkey_for

    from .support import approved

    case = approved(recovery_case("high", agent=agent), agent, staff("supervisor"))
    issued = workflow.issue_credential(case, agent, channel=channel_of(case, "email"))
    opened = workflow.redeem(issued.credential.handle, issued.code)
    workflow.complete(opened.session, passkey_for(case.identity.user)[0])
    sign_in_client(client, staff("auditor"))
    page = client.get(case_url(case)).content.decode()
    email = channel_of(case, "email").masked_address
    for text in ("Completed", "Evidence is complete.", "Redeemed",
                 "Recovery completed: a new passkey was enrolled",
                 f"Recovery credential sent to email {email}", "Your account recovery link",
                 "Manager confirmed through the link"):
        assert text in page, text
    assert issued.code not in page
