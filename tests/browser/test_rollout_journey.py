"""The passkey rollout end to end in a real Chromium: a security admin
creates a cohort and previews it, sets a plan up and invites a pilot; the
pilot member enrols from the invitation with a (virtual) passkey; the gate
passes; report-only records who would have been refused; the wave
enforces, and a member without a passkey is refused at the portal's door
and pointed to recovery."""

import time

import pytest
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from recovery_console.rollout.models import Wave, WouldRefuse
from tests.conftest import ARTIFACTS, VirtualAuthenticator
from tests.factories import PASSWORD, TOTPDeviceFactory, current_totp, staff
from tests.rollout.support import link_token
from tests.rollout.waves_support import person

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREEN = {"width": 1366, "height": 900}


def shot(page, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"rollout-journey-{name}.png"), full_page=True)


def next_totp(user) -> str:
    """The code the authenticator shows in the next 30 seconds: a code is
    good once, and the two sign-ins of one person here fall in one window."""
    device = TOTPDevice.objects.get(user=user)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + device.step
    return f"{totp.token():06d}"


def portal_password_sign_in(page, user, next_heading, code=None):
    page.get_by_role("link", name="Sign in with your password and authenticator code").click()
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Authenticator code").fill(code or current_totp(user))
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_role("heading", name=next_heading).wait_for()


def move(page, label, stage):
    page.get_by_role("button", name=f"Move to {label}").click()
    page.get_by_text(f"The wave is now in {label}.").wait_for()
    assert Wave.objects.get().stage == stage


def test_a_wave_goes_from_cohort_to_enforcement_and_a_member_without_a_passkey_is_sent_to_recovery(
        browser, live_server, settings):
    settings.WEBAUTHN_ORIGINS = [live_server.url.replace("127.0.0.1", "localhost")]
    base = live_server.url.replace("127.0.0.1", "localhost")
    settings.SITE_URL = base
    # Ten people of the wave's group: eight already enrolled, one for the
    # pilot, one who never enrols. Each has a password and an authenticator.
    for n in range(8):
        person(display_name=f"Enrolled Person {n}")
    pilot = person(passkey=False, display_name="Priya Pilot")
    laggard = person(passkey=False, display_name="Lee Later")
    for someone in (pilot, laggard):
        TOTPDeviceFactory(user=someone.user)
    admin = staff("security_admin", username="sec-admin")

    admin_page = browser.new_context(base_url=base, viewport=SCREEN).new_page()
    admin_page.set_default_timeout(15_000)
    admin_page.goto("/accounts/sign-in/")
    admin_page.get_by_label("Username").fill(admin.username)
    admin_page.get_by_label("Password").fill(PASSWORD)
    admin_page.get_by_label("Authenticator code").fill(current_totp(admin))
    admin_page.get_by_role("button", name="Sign in", exact=True).click()

    # The cohort, previewed before it is saved.
    admin_page.get_by_role("link", name="Rollout").click()
    admin_page.get_by_role("link", name="Cohorts").click()
    admin_page.get_by_role("link", name="New cohort").click()
    admin_page.get_by_label("Name").fill("Wave one")
    admin_page.get_by_label("Directory group").fill("Passkey wave 1")
    admin_page.get_by_role("button", name="Preview members").click()
    admin_page.get_by_role("heading", name="Preview: 10 members").wait_for()
    shot(admin_page, "1-cohort-preview")
    admin_page.get_by_role("button", name="Save cohort").click()
    admin_page.get_by_text("Cohort Wave one saved.").wait_for()

    # A plan whose report-only period the admin ends by hand, one wave, its pilot invited.
    admin_page.goto("/rollout/")
    admin_page.get_by_role("link", name="New plan").click()
    admin_page.get_by_label("Name").fill("Passkeys 2027")
    admin_page.get_by_label("Report-only period (days)").fill("0")
    admin_page.get_by_role("button", name="Save plan").click()
    admin_page.get_by_label("Cohort").select_option(label="Wave one")
    admin_page.get_by_role("button", name="Add wave").click()
    admin_page.get_by_role("link", name="Wave 1").click()
    admin_page.get_by_label("Members to pilot with").fill(pilot.directory_id)
    admin_page.get_by_role("button", name="Save the pilot sample").click()
    admin_page.get_by_text("1 named").wait_for()
    admin_page.get_by_role("button", name="Invite the pilot sample").click()
    admin_page.get_by_role("heading", name="Invitations").wait_for()
    shot(admin_page, "2-pilot-invited")

    # The pilot member opens the invitation's link: it asks them to sign in first.
    member_context = browser.new_context(base_url=base, viewport=SCREEN)
    member = member_context.new_page()
    member.set_default_timeout(15_000)
    authenticator = VirtualAuthenticator(member)
    member.goto(f"/my/enrol/{link_token(pilot)}/")
    member.get_by_role("heading", name="Sign in to your account").wait_for()
    portal_password_sign_in(member, pilot.user, "Add a passkey")
    member.get_by_label("Name for this passkey").fill("Work laptop")
    member.get_by_role("button", name="Create passkey").click()
    member.get_by_role("cell", name="Work laptop", exact=True).wait_for()
    assert len(authenticator.credentials()) == 1
    shot(member, "3-pilot-enrolled")
    member_context.close()

    # Nine of ten have a passkey now: the wave moves on, through report-only.
    admin_page.reload()
    move(admin_page, "invite", Wave.Stage.INVITE)
    move(admin_page, "report-only", Wave.Stage.REPORT_ONLY)

    # In report-only the laggard still gets in, and the wave records it.
    lagging = browser.new_context(base_url=base, viewport=SCREEN).new_page()
    lagging.set_default_timeout(15_000)
    lagging.goto("/my/sign-in/")
    portal_password_sign_in(lagging, laggard.user, "Your passkeys")
    assert WouldRefuse.objects.filter(identity=laggard).count() == 1
    lagging.context.close()
    admin_page.reload()
    admin_page.get_by_text("Lee Later").first.wait_for()
    shot(admin_page, "4-report-only")

    admin_page.get_by_role("row", name="Passkey").get_by_text("Passes").wait_for()
    move(admin_page, "enforce", Wave.Stage.ENFORCE)
    shot(admin_page, "5-enforcing")

    # Enforced: the laggard's password and code no longer let them in.
    refused = browser.new_context(base_url=base, viewport=SCREEN).new_page()
    refused.set_default_timeout(15_000)
    refused.goto("/my/sign-in/")
    portal_password_sign_in(refused, laggard.user, "A passkey is required",
                            code=next_totp(laggard.user))
    shot(refused, "6-refused")
    refused.get_by_role("link", name="Ask the service desk to restore your access").click()
    refused.wait_for_url("**/recover/")
    assert refused.get_by_role("heading", level=1).inner_text()
    refused.context.close()
