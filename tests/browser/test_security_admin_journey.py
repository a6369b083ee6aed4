"""A security admin's day in a real browser, with JavaScript on and off:
filter the alerts, acknowledge two at once with a note, then revoke a stale
channel for a reason. Screenshots under var/test-artifacts/."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import RecoveryChannel
from recovery_console.models import Alert, RecoveryPolicy
from tests.conftest import ARTIFACTS
from tests.factories import (
    PASSWORD,
    IdentityFactory,
    RecoveryChannelFactory,
    current_totp,
    recovery_case,
    staff,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("recovery_reference_data")]
Kind = Alert.Kind
NOTE = "Both from the hotel network of a known traveller; confirmed with her by phone."
REASON = "Left the company in 2024; nobody will confirm this address."


def a_day_of_alerts(admin):
    """Three redemptions from new networks and a channel change, open; an
    older passkey enrolment someone already looked at."""
    now = timezone.now()
    made = []
    for minutes, (kind, detail) in enumerate([
        (Kind.NEW_NETWORK, "Redeemed from 203.0.113.0/24, not seen before for this person."),
        (Kind.NEW_NETWORK, "Redeemed from 198.51.100.0/24, not seen before for this person."),
        (Kind.CHANNEL_CHANGE, "Email channel c***@example.org changed during the watch period."),
        (Kind.NEW_NETWORK, "Redeemed from 192.0.2.0/24, not seen before for this person."),
    ]):
        case = recovery_case("low")
        made.append(Alert.objects.create(identity=case.identity, case=case, kind=kind,
                                         detail=detail,
                                         created_at=now - timedelta(minutes=10 * minutes)))
    case = recovery_case("low")
    Alert.objects.create(identity=case.identity, case=case, kind=Kind.PASSKEY_ENROLMENT,
                         detail="A second passkey was enrolled during the watch period.",
                         created_at=now - timedelta(days=1), acknowledged_by=admin,
                         acknowledged_at=now - timedelta(hours=20),
                         acknowledgement_note="The person's new laptop; ticket INC-4411.")
    return made


def stale_channels():
    for tier, days in {"low": 730, "medium": 730, "high": 365, "restricted": 90}.items():
        RecoveryPolicy.objects.filter(tier=tier).update(channel_max_age=timedelta(days=days))
    old = timezone.now() - timedelta(days=400)
    return [RecoveryChannelFactory(identity=IdentityFactory(display_name=name),
                                   kind="email", address=address, last_confirmed_at=old)
            for name, address in [("Olive Oldham", "olive@example.org"),
                                  ("Pat Pastor", "pat@example.org")]]


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_security_admin_filters_acknowledges_in_bulk_and_revokes_a_stale_channel(
        browser, live_server, settings, javascript):
    settings.SITE_URL = live_server.url
    admin = staff("security_admin", first_name="Sol", last_name="Security", is_staff=True)
    network, second_network, _change, third_network = a_day_of_alerts(admin)
    olive, pat = stale_channels()
    context = browser.new_context(base_url=live_server.url, java_script_enabled=javascript,
                                  viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    suffix = "" if javascript else "-no-js"
    try:
        page.goto("/")
        page.get_by_role("link", name="Staff sign-in").click()
        page.get_by_label("Username").fill(admin.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_label("Authenticator code").fill(current_totp(admin))
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.get_by_role("heading", name="Recovery watch alerts").wait_for()
        assert page.locator("tbody tr").count() == 4  # open ones only

        page.get_by_label("Kind").select_option(label="Redemption from a new network")
        page.get_by_label("State").select_option(label="Open")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url(re.compile(r"kind=new_network&state=open"))
        assert page.locator("tbody tr").count() == 3
        select_all = page.get_by_label("Choose every open alert on this page")
        assert select_all.is_visible() == javascript

        page.locator(f"#alert-{network.pk}").check()
        page.locator(f"#alert-{third_network.pk}").check()
        page.get_by_label("Note").fill(NOTE)
        button = page.get_by_role("button", name=re.compile("^Acknowledge chosen alerts"))
        if javascript:
            assert button.inner_text() == "Acknowledge chosen alerts (2)"
        button.click()
        page.get_by_text("2 alerts acknowledged.").wait_for()
        assert re.search(r"kind=new_network&state=open", page.url)
        assert page.locator("tbody tr").count() == 1
        for acknowledged in (network, third_network):
            acknowledged.refresh_from_db()
            assert acknowledged.acknowledged_by == admin
            assert acknowledged.acknowledgement_note == NOTE
        second_network.refresh_from_db()
        assert second_network.acknowledged_at is None

        page.get_by_label("Kind").select_option(label="Any kind")
        page.get_by_label("State").select_option(label="All")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url(re.compile(r"state=all"))
        assert page.locator("tbody tr").count() == 5
        assert page.get_by_text(NOTE).count() == 2
        case_link = page.get_by_role("link", name=f"Case #{second_network.case_id}")
        assert case_link.is_visible()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"security-alerts{suffix}.png"), full_page=True)

        page.get_by_role("link", name="Stale channels").click()
        page.get_by_role("heading", name="Stale recovery channels").wait_for()
        olive_row = page.locator("tr", has_text="Olive Oldham")
        assert ("Not confirmed for 400 days; the high-tier policy allows 365. "
                "Still accepted at the low and medium tiers.") in olive_row.inner_text()
        page.get_by_label(f"Revoke {olive} of Olive Oldham").check()
        page.get_by_label("Reason").fill(REASON)
        page.get_by_role("button", name=re.compile("^Revoke chosen channels")).click()
        page.get_by_text(f"1 channel revoked. Reason: {REASON}").wait_for()
        revoked = page.get_by_role("table", name=re.compile("revocation"))
        assert "Olive Oldham" in revoked.inner_text() and REASON in revoked.inner_text()
        assert "Sol Security" in revoked.inner_text()
        page.screenshot(path=str(ARTIFACTS / f"security-stale-channels{suffix}.png"),
                        full_page=True)
        olive.refresh_from_db()
        pat.refresh_from_db()
        assert olive.revoked_at is not None and pat.revoked_at is None
        assert RecoveryChannel.objects.filter(revoked_at__isnull=False).count() == 1
    finally:
        context.close()
