"""The phone read-out in a real browser: the agent reads a reference and a code,
the person types them at the short fixed address and enrols a passkey; and a
browser with JavaScript off is told what to do instead of burning the code.
Screenshots under var/test-artifacts/recovery/."""

import pytest

from recovery_console.models import RecoveryCase, RecoveryCredential
from tests.conftest import VirtualAuthenticator
from tests.factories import recovery_case, staff

from .test_journeys_browser import claim_and_check_email_code, shot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("recovery_reference_data")]


def test_a_code_read_out_on_the_phone_is_typed_at_the_short_address(
        page, new_page, browser, live_server, dev_outbox):
    agent = staff("agent")
    case = recovery_case("low")
    sign_in(page, agent)
    claim_and_check_email_code(page, case)
    page.get_by_role("button", name="Issue credential").click()  # read out: no channel
    page.get_by_role("heading", name="Recovery credential issued").wait_for()
    shot(page, "read-out-issued")
    reference = page.get_by_label("Reference").inner_text()
    spoken = page.get_by_label("Recovery code").inner_text()
    address = page.locator(".link-text").inner_text()
    assert address == live_server.url.split("://")[1] + "/code"
    assert reference == RecoveryCredential.objects.get(case=case).reference

    # JavaScript off: the page says why and what to do; the code stays unused.
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    no_js = context.new_page()
    no_js.goto("/code/")
    advice = no_js.locator("noscript .advice")
    assert advice.is_visible() and "Your code has not been used" in advice.inner_text()
    assert no_js.get_by_role("button", name="Continue").is_disabled()
    shot(no_js, "read-out-without-javascript")
    no_js.goto("/my/sign-in/")
    assert "JavaScript" in no_js.locator("noscript .advice").inner_text()
    assert not no_js.get_by_role("button", name="Sign in with a passkey").is_visible()
    shot(no_js, "portal-sign-in-without-javascript")
    context.close()

    person = new_page()
    VirtualAuthenticator(person)
    person.goto("/code")  # as said aloud: no trailing slash
    person.get_by_label("Reference").fill(reference.lower().replace("-", " "))
    person.get_by_label("Recovery code").fill(spoken)
    shot(person, "read-out-typed")
    person.get_by_role("button", name="Continue").click()
    person.get_by_role("heading", name="Enrol a new passkey").wait_for()
    person.get_by_role("button", name="Create my new passkey").click()
    person.get_by_role("heading", name="Your access is restored").wait_for()
    case.refresh_from_db()
    assert case.state == RecoveryCase.State.COMPLETED
