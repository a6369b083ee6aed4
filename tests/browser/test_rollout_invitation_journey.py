"""An invited person follows the link in their invitation: signs in first,
enrols a passkey with a virtual authenticator, and their passkey page shows
them enrolled (screenshots of the page before and after, for reading)."""

import pytest
from django.conf import settings
from django.test import Client

from recovery_console.rollout import invitations
from recovery_console.rollout.models import Invitation
from tests.conftest import ARTIFACTS
from tests.factories import RecoveryChannelFactory, staff
from tests.rollout.support import link_token, member, wave_of
from tests.sessions import sign_in_client

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in_as(page, live_server, user):
    """The portal session a password and authenticator code leave (the
    portal's sign-in forms have journeys of their own)."""
    client = sign_in_client(Client(), user)
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "url": live_server.url,
                               "value": client.cookies[settings.SESSION_COOKIE_NAME].value}])


def test_an_invited_person_signs_in_from_the_link_and_enrols(
        page, authenticator, live_server, recovery_reference_data):
    wave = wave_of()
    person = member()
    RecoveryChannelFactory(identity=person, kind="phone", address="+44 7700 900321")
    invitations.invite(wave, staff("security_admin"))
    link = f"/my/enrol/{link_token(person)}/"

    page.goto(link)  # not signed in: the portal's sign-in first
    page.get_by_role("heading", name="Sign in to your account").wait_for()
    assert "next=/my/enrol/" in page.url

    sign_in_as(page, live_server, person.user)
    page.goto("/my/rollout/")
    page.get_by_role("heading", name="Your passkey", exact=True).wait_for()
    page.get_by_role("button", name="Snooze for 3 days").wait_for()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "rollout-status-invited.png"), full_page=True)

    page.goto(link)
    page.get_by_role("heading", name="Add a passkey").wait_for()
    page.get_by_label("Name for this passkey").fill("Work phone")
    page.get_by_role("button", name="Create passkey").click()
    page.get_by_role("cell", name="Work phone", exact=True).wait_for()
    assert len(authenticator.credentials()) == 1
    assert Invitation.objects.get().enrolled_at is not None

    page.goto("/my/rollout/")
    page.get_by_text("You have a passkey.").wait_for()
    page.screenshot(path=str(ARTIFACTS / "rollout-status-enrolled.png"), full_page=True)

    page.goto(link)  # used once already
    page.get_by_text("This link was already used").wait_for()
