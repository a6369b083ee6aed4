"""Passkeys in a real headless Chromium with a CDP virtual authenticator."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import PasskeyCredential
from accounts.stepup import STEP_UP_AT
from tests.conftest import session_of
from tests.factories import PASSWORD, IdentityFactory, current_totp, staff
from tests.sessions import passkey_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in_with_password(page, user):
    page.goto("/accounts/sign-in/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Authenticator code").fill(current_totp(user))
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_role("heading", name="Reset queue").wait_for()


def enrol_passkey(page, name):
    page.get_by_role("link", name="Your passkeys").click()
    page.get_by_role("link", name="Add a passkey").click()
    page.get_by_label("Name for this passkey").fill(name)
    page.get_by_role("button", name="Create passkey").click()
    page.get_by_role("cell", name=name, exact=True).wait_for()


def sign_out(page):
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Staff sign-in").wait_for()


def test_staff_member_enrols_a_passkey_and_signs_in_with_it(page, authenticator):
    agent = staff("agent")
    sign_in_with_password(page, agent)
    enrol_passkey(page, "Work laptop")
    assert len(authenticator.credentials()) == 1
    assert PasskeyCredential.objects.get(user=agent).name == "Work laptop"
    sign_out(page)

    page.get_by_role("button", name="Sign in with a passkey").click()
    page.get_by_role("heading", name="Reset queue").wait_for()
    assert PasskeyCredential.objects.get(user=agent).last_used_at is not None


def test_end_user_signs_in_with_a_passkey_enrols_another_and_uses_it(page, authenticator):
    identity = IdentityFactory()
    old, soft = passkey_for(identity.user)
    authenticator.add_existing(soft)
    page.goto("/my/sign-in/")
    page.get_by_role("button", name="Sign in with a passkey").click()
    page.get_by_role("heading", name="Your passkeys").wait_for()
    page.get_by_role("cell", name="Test passkey", exact=True).wait_for()

    # The old device is about to be retired: the new passkey comes from a new one.
    authenticator.remove_all()
    page.get_by_role("link", name="Add a passkey").click()
    page.get_by_label("Name for this passkey").fill("New phone")
    page.get_by_role("button", name="Create passkey").click()
    page.get_by_role("cell", name="New phone", exact=True).wait_for()

    page.get_by_role("button", name="Remove passkey Test passkey").click()
    # It was the passkey this session signed in with: the session ends.
    page.get_by_text("You removed the passkey this session used").wait_for()
    old.refresh_from_db()
    assert old.revoked_at is not None

    page.goto("/my/sign-in/")
    page.get_by_role("button", name="Sign in with a passkey").click()
    page.get_by_role("heading", name="Your passkeys").wait_for()
    new = PasskeyCredential.objects.get(user=identity.user, name="New phone")
    assert new.last_used_at is not None


def test_a_step_up_prompt_interrupts_and_then_resumes_adding_a_passkey(page, authenticator):
    agent = staff("agent")
    sign_in_with_password(page, agent)
    enrol_passkey(page, "Security key")
    session = session_of(page)
    session[STEP_UP_AT] = (timezone.now() - timedelta(minutes=10)).isoformat()
    session.save()

    page.get_by_role("link", name="Add a passkey").click()
    page.get_by_role("heading", name="Confirm it's you").wait_for()
    page.get_by_role("button", name="Confirm with your passkey").click()
    page.get_by_role("heading", name="Add a passkey").wait_for()
    authenticator.remove_all()  # the second key is another device
    page.get_by_label("Name for this passkey").fill("Second key")
    page.get_by_role("button", name="Create passkey").click()
    page.get_by_role("cell", name="Second key", exact=True).wait_for()
    assert PasskeyCredential.objects.filter(user=agent, revoked_at=None).count() == 2
