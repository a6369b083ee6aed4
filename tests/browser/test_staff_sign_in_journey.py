"""An agent signs in through a real browser with password + TOTP."""

import pytest

from tests.factories import PASSWORD, current_totp, staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_agent_signs_in_with_password_and_totp_and_sees_the_queue(page):
    agent = staff("agent", first_name="Alex", last_name="Agent")
    page.goto("/")
    page.get_by_role("link", name="Staff sign-in").click()
    page.get_by_label("Username").fill(agent.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Authenticator code").fill(current_totp(agent))
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_role("heading", name="Reset queue").wait_for()
    assert page.url.endswith("/queue/")
    assert "Alex Agent" in page.content()


def test_a_wrong_code_shows_a_clear_error_in_the_browser(page):
    agent = staff("agent")
    page.goto("/accounts/sign-in/")
    page.get_by_label("Username").fill(agent.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Authenticator code").fill("000000" if current_totp(agent) != "000000"
                                                  else "111111")
    page.get_by_role("button", name="Sign in", exact=True).click()
    assert page.get_by_role("alert").inner_text().startswith("Sign-in failed")
    assert page.url.endswith("/accounts/sign-in/")
