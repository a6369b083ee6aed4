"""The agent's flow in headless Chromium: a read-out credential survives a
reload and "back", a case is failed with a reason, a case whose channels are
all stale is escalated (and a supervisor sees it), and an attester's answer
appears on the case page without a reload. Screenshots are saved under
var/test-artifacts/agent-flow/."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from recovery_console import workflow
from recovery_console.models import RecoveryCase, RecoveryCredential
from tests.factories import recovery_case, staff

from .support import approved, attestation_token, pass_code_step
from .test_journeys_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("recovery_reference_data")]

SHOTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "agent-flow"
State = RecoveryCase.State


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def credentials(case):
    return list(RecoveryCredential.objects.filter(case=case).order_by("pk")
                .values_list("pk", "voided_at", "used_at"))


def test_a_read_out_code_survives_reload_and_back(page):
    agent = staff("agent")
    case = approved(recovery_case("low", agent=agent), agent)
    sign_in(page, agent)
    page.goto(f"/cases/{case.pk}/")
    page.get_by_role("button", name="Issue credential").click()
    page.get_by_role("heading", name="Recovery credential issued").wait_for()
    code = page.get_by_label("Recovery code").inner_text()
    assert len(code) == 23
    shot(page, "1-issued-code-shown")
    issued = credentials(case)
    assert len(issued) == 1 and issued[0][1:] == (None, None)

    page.reload()
    page.get_by_text("The code was shown once").wait_for()
    assert code not in page.inner_text("main")
    shot(page, "2-after-reload")
    assert credentials(case) == issued

    page.go_back()
    page.get_by_role("heading", name=f"Case #{case.pk}").wait_for()
    page.get_by_role("button", name="Issue a new credential and void the live one").wait_for()
    shot(page, "3-back-on-the-case")
    assert credentials(case) == issued
    page.go_forward()
    page.get_by_text("The code was shown once").wait_for()
    assert credentials(case) == issued


def test_an_agent_fails_a_case_with_a_reason(page):
    agent = staff("agent")
    case = recovery_case("medium", agent=agent)
    sign_in(page, agent)
    page.goto(f"/cases/{case.pk}/")
    page.locator("summary", has_text="Fail verification").click()
    page.locator("#id_fail_reason").fill("The caller could not say who their manager is and "
                                         "hung up when asked for the code.")
    shot(page, "4-failing")
    page.get_by_role("button", name="Fail verification").click()
    page.get_by_text("Verification failed: the case is closed").wait_for()
    shot(page, "5-failed")
    case.refresh_from_db()
    assert case.state == State.FAILED and "hung up" in case.closing_reason


def test_an_agent_escalates_a_case_whose_channels_are_all_stale(page, new_page):
    agent = staff("agent")
    case = recovery_case("low", agent=agent)
    case.identity.channels.update(last_confirmed_at=timezone.now() - timedelta(days=400))
    sign_in(page, agent)
    page.goto(f"/cases/{case.pk}/")
    page.get_by_text("No registered channel can get a code now").wait_for()
    assert page.get_by_role("button", name="Send code").count() == 0  # nothing usable offered
    page.locator("summary", has_text="Escalate: I cannot verify this caller").click()
    page.locator("#id_escalate_reason").fill("Both channels on file are stale; the caller "
                                             "cannot receive a code.")
    shot(page, "6-escalating")
    page.get_by_role("button", name="Escalate case").click()
    page.get_by_text("Escalated: the case now follows a stricter tier").wait_for()
    shot(page, "7-escalated")
    case.refresh_from_db()
    assert case.tier == "high" and case.escalated_at is not None

    boss = new_page()
    sign_in(boss, staff("supervisor"), lands_on="Approvals waiting for you")
    boss.get_by_role("link", name="Approvals").click()
    boss.get_by_role("heading", name="Escalated by agents, still being verified").wait_for()
    shot(boss, "8-supervisor-sees-escalation")
    boss.get_by_role("link", name=f"#{case.pk}: {case.identity.display_name}").click()
    boss.locator("summary", has_text="Fail verification").wait_for()


def test_the_attesters_answer_appears_without_a_reload(page):
    agent = staff("agent")
    case = recovery_case("high", agent=agent)
    pass_code_step(case, agent)
    sign_in(page, agent)
    page.goto(f"/cases/{case.pk}/")
    page.get_by_role("button", name="Send attestation link").click()
    page.get_by_text("Waiting for their answer: step not passed yet.").wait_for()
    page.get_by_text("This page updates by itself when the answer arrives.").wait_for()
    assert page.url.endswith(f"#step-{case.script.steps.get(kind='attestation').pk}")
    shot(page, "9-waiting-for-attestation")
    workflow.answer_attestation(attestation_token(case), True)
    page.get_by_text("Manager confirmed through the link").wait_for(timeout=15_000)
    page.get_by_role("button", name="Ask supervisors for approval").wait_for()
    shot(page, "10-answer-arrived")
