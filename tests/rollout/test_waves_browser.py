"""A security admin sets a rollout up in the browser: a cohort previewed
then saved, a plan, its first wave, the pilot sample and the first move."""

import pytest

from recovery_console.rollout.models import Wave
from tests.conftest import ARTIFACTS
from tests.factories import PASSWORD, current_totp, staff

from .waves_support import person

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_security_admin_sets_up_a_wave_and_starts_its_pilot(page):
    people = [person(display_name=f"Pilot Person {n}") for n in range(3)]
    admin = staff("security_admin", username="sec-admin")
    page.goto("/accounts/sign-in/")
    page.get_by_label("Username").fill(admin.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Authenticator code").fill(current_totp(admin))
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_role("link", name="Rollout").click()
    page.get_by_role("link", name="Cohorts").click()
    page.get_by_role("link", name="New cohort").click()
    page.get_by_label("Name").fill("Wave one people")
    page.get_by_label("Directory group").fill("passkey WAVE 1")
    page.get_by_role("button", name="Preview members").click()
    page.get_by_role("heading", name="Preview: 3 members").wait_for()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "rollout-cohort-preview.png"), full_page=True)
    page.get_by_role("button", name="Save cohort").click()
    page.get_by_text("Cohort Wave one people saved.").wait_for()

    page.goto("/rollout/")
    page.get_by_role("link", name="New plan").click()
    page.get_by_label("Name").fill("Passkeys 2027")
    page.get_by_role("button", name="Save plan").click()
    page.get_by_label("Cohort").select_option(label="Wave one people")
    page.get_by_role("button", name="Add wave").click()
    page.get_by_role("link", name="Wave 1").click()
    page.get_by_label("Members to pilot with").fill(
        f"{people[0].directory_id}\n{people[1].directory_id}")
    page.get_by_role("button", name="Save the pilot sample").click()
    page.get_by_text("2 named").wait_for()
    page.screenshot(path=str(ARTIFACTS / "rollout-wave-pilot.png"), full_page=True)
    page.get_by_role("button", name="Move to invite").click()
    page.get_by_text("The wave is now in invite.").wait_for()

    assert Wave.objects.get().stage == Wave.Stage.INVITE
