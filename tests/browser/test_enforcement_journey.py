"""A member of an enforcing wave, with no passkey, tries the password
sign-in, is refused and follows the way back in: recovery."""

import pytest

from recovery_console.rollout.models import WouldRefuse
from tests.conftest import ARTIFACTS
from tests.factories import PASSWORD, current_totp
from tests.rollout.support import person, wave_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_member_of_an_enforcing_wave_is_refused_and_follows_the_link_to_recovery(page):
    member = person()
    wave_for("Finance", "enforce")

    page.goto("/my/sign-in/")
    page.get_by_role("link", name="Sign in with your password and authenticator code").click()
    page.get_by_label("Username").fill(member.user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Authenticator code").fill(current_totp(member.user))
    page.get_by_role("button", name="Sign in", exact=True).click()

    page.get_by_role("heading", name="A passkey is required").wait_for()
    assert "requires a passkey to sign in" in page.get_by_role("alert").inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "enforcement-refused.png"), full_page=True)

    page.get_by_role("link", name="Ask the service desk to restore your access").click()
    page.wait_for_url("**/recover/")
    page.get_by_role("heading", name="Lost your passkey?").wait_for()
    page.screenshot(path=str(ARTIFACTS / "enforcement-recovery.png"), full_page=True)
    assert not WouldRefuse.objects.exists()
