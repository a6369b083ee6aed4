"""Whole recovery journeys in headless Chromium, with a CDP virtual
authenticator: the agent, the manager, the supervisor and the person being
recovered each use their own browser. Screenshots of the queue, case,
approval and completion pages are saved under var/test-artifacts/recovery/."""

import re
from pathlib import Path

import pytest

from accounts.models import PasskeyCredential
from recovery_console.models import RecoveryCase
from tests.conftest import VirtualAuthenticator
from tests.factories import PASSWORD, current_totp, recovery_case, staff
from tests.sessions import passkey_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("recovery_reference_data")]

SHOTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "recovery"



def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)



def sign_in(page, user, lands_on="Reset queue"):
    page.goto("/accounts/sign-in/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Authenticator code").fill(current_totp(user))
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_role("heading", name=lands_on).wait_for()
    # The heading is there once the HTML is parsed; the page's deferred
    # scripts (keyboard shortcuts, focus) have run only once it has loaded.
    page.wait_for_load_state("load")


def from_outbox(page, pattern):
    page.goto("/outbox/")
    return re.search(pattern, page.inner_text("main")).groups()


def check_code_on_phone(page, case, phone):
    """The agent sends a code to the registered phone and checks what the caller reads."""
    page.get_by_label("Registered channel", exact=True).select_option(label=str(phone))
    page.get_by_role("button", name="Send code").click()
    (code,) = from_outbox(page, r"Your verification code is (\d{6})")
    page.goto(f"/cases/{case.pk}/")
    page.get_by_label("Code the caller reads out").fill(code)
    page.get_by_role("button", name="Check code").click()


def no_pressure_signs(page, case):
    """The agent answers the pressure checklist the script ends with: none observed."""
    page.goto(f"/cases/{case.pk}/")
    page.get_by_label("None observed").check()
    page.get_by_role("button", name="Record the checklist").click()
    page.get_by_text("Pressure checklist recorded.").wait_for()


def claim_and_check_email_code(page, case):
    """The agent claims ``case`` and verifies the caller by a code to their email."""
    email = case.identity.channels.get(kind="email")
    page.goto(f"/cases/{case.pk}/")
    page.get_by_role("button", name="Claim this case").click()
    no_pressure_signs(page, case)
    page.get_by_label("Registered channel", exact=True).select_option(label=str(email))
    page.get_by_role("button", name="Send code").click()
    (code,) = from_outbox(page, r"Your verification code is (\d{6})")
    page.goto(f"/cases/{case.pk}/")
    page.get_by_label("Code the caller reads out").fill(code)
    page.get_by_role("button", name="Check code").click()
    return email


def attest(page, answer="Yes, I know about this request"):
    """The manager, sponsor or owner opens the link from their own channel and answers."""
    (link,) = from_outbox(page, r"(http://\S+/attest/[\w-]+/)")
    page.goto(link)
    page.get_by_label(answer).check()
    page.get_by_role("button", name="Send my answer").click()
    page.get_by_role("heading", name="Thank you").wait_for()


def redeem_and_enrol(page, case):
    """The person opens the link from their phone and enrols a new passkey."""
    link, code = from_outbox(page, r"Open (\S+) and enter the code (\S+) to enrol")
    page.goto(link)
    page.get_by_label("Recovery code").fill(code)
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("heading", name="Enrol a new passkey").wait_for()
    page.get_by_role("button", name="Create my new passkey").click()
    page.get_by_role("heading", name="Your access is restored").wait_for()


def test_high_risk_recovery_with_attestation_supervisor_approval_and_new_passkey(
        page, new_page, dev_outbox):
    agent, supervisor = staff("agent"), staff("supervisor")
    case = recovery_case("high")
    old, old_soft = passkey_for(case.identity.user)
    phone = case.identity.channels.get(kind="phone")

    sign_in(page, agent)
    shot(page, "queue")
    page.get_by_role("button", name=f"Claim case {case.pk}").click()
    page.get_by_role("heading", name=f"Case #{case.pk}").wait_for()
    no_pressure_signs(page, case)
    check_code_on_phone(page, case, phone)
    page.get_by_role("button", name="Send attestation link").click()
    shot(page, "case")

    attest(new_page())

    page.goto(f"/cases/{case.pk}/")
    page.get_by_role("button", name="Ask supervisors for approval").click()

    boss = new_page()
    sign_in(boss, supervisor, lands_on="Approvals waiting for you")  # their start page
    boss.get_by_role("link", name="Approvals").click()
    boss.get_by_role("link", name=f"#{case.pk}: review").click()
    boss.get_by_label("Approve the reset").check()
    boss.get_by_label("Reason (required)").fill("Code on the registered phone and manager "
                                                "attestation agree.")
    shot(boss, "approval")
    boss.get_by_role("button", name="Record decision").click()
    boss.get_by_text("Your decision on case").wait_for()

    page.goto(f"/cases/{case.pk}/")
    page.get_by_label("Deliver to").select_option(label=str(phone))
    page.get_by_role("button", name="Issue credential").click()
    page.get_by_role("heading", name="Recovery credential issued").wait_for()

    person = new_page()
    authenticator = VirtualAuthenticator(person)
    redeem_and_enrol(person, case)
    shot(person, "completion")
    case.refresh_from_db()
    assert case.state == RecoveryCase.State.COMPLETED
    assert len(authenticator.credentials()) == 1

    # The new passkey signs in; the old one no longer does.
    person.goto("/my/sign-in/")
    person.get_by_role("button", name="Sign in with a passkey").click()
    person.get_by_role("heading", name="Your passkeys").wait_for()
    thief = new_page()
    VirtualAuthenticator(thief).add_existing(old_soft)
    thief.goto("/my/sign-in/")
    thief.get_by_role("button", name="Sign in with a passkey").click()
    thief.get_by_text("not registered here, or was revoked").wait_for()
    old.refresh_from_db()
    assert old.revoked_at is not None


def test_low_risk_recovery_needs_no_supervisor(page, new_page, dev_outbox):
    agent = staff("agent")
    case = recovery_case("low")
    sign_in(page, agent)
    email = claim_and_check_email_code(page, case)
    page.get_by_label("Deliver to").select_option(label=str(email))
    page.get_by_role("button", name="Issue credential").click()

    person = new_page()
    VirtualAuthenticator(person)
    redeem_and_enrol(person, case)
    case.refresh_from_db()
    assert case.state == RecoveryCase.State.COMPLETED
    assert not case.approvals.exists()
    assert PasskeyCredential.objects.filter(user=case.identity.user,
                                            revoked_at__isnull=True).count() == 1
