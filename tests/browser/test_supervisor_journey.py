"""A supervisor's day in a real browser, with JavaScript on and off: the
approvals list says how long each case has waited, its deadline and why one
is not theirs to decide; they open a case, read its whole trail, decide, and
land back on the list with the next case focused, which Enter opens."""

import re
from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.db.models import F
from django.utils import timezone

from recovery_console import workflow
from recovery_console.models import RecoveryCase
from tests.conftest import ARTIFACTS
from tests.factories import PASSWORD, current_totp, recovery_case, staff
from tests.recovery.support import verify

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("recovery_reference_data")]
SCREEN = {"width": 1366, "height": 900}


def awaiting(agent, tier="high") -> RecoveryCase:
    case = verify(recovery_case(tier, agent=agent), agent)
    workflow.request_approval(case, agent)
    return case


def happened_earlier(case, delta):
    """Move the case's whole story (its audit entries and evidence) ``delta`` back."""
    LogEntry.objects.filter(object_pk=str(case.pk), content_type__model="recoverycase").update(
        timestamp=F("timestamp") - delta)
    case.evidence.update(created_at=F("created_at") - delta)
    RecoveryCase.objects.filter(pk=case.pk).update(opened_at=F("opened_at") - delta)


@pytest.fixture(params=[True, False], ids=["js", "no-js"])
def browser_page(request, browser, live_server, settings):
    settings.WEBAUTHN_ORIGINS = [live_server.url]
    settings.SITE_URL = live_server.url
    context = browser.new_context(base_url=live_server.url, viewport=SCREEN,
                                  java_script_enabled=request.param)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page, request.param
    context.close()


def sign_in(page, user):
    page.goto("/accounts/sign-in/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Authenticator code").fill(current_totp(user))
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_role("link", name=re.compile(r"^Approvals")).wait_for()


def decide(page, reason):
    page.get_by_label("Approve the reset").check()
    page.get_by_label("Reason (required)").fill(reason)
    page.get_by_role("button", name="Record decision").click()


def test_a_supervisors_day_from_the_list_to_a_decision_to_the_next_case(browser_page):
    page, js = browser_page
    bea = staff("agent", first_name="Bea", last_name="Agent")
    sam = staff("agent", "supervisor", first_name="Sam", last_name="Supervisor")
    theirs = awaiting(sam)  # Sam worked this one: another supervisor decides
    first, second = awaiting(bea), awaiting(bea)
    now = timezone.now()
    RecoveryCase.objects.filter(pk=theirs.pk).update(deadline=now - timedelta(hours=2))
    RecoveryCase.objects.filter(pk=second.pk).update(deadline=now + timedelta(hours=5))
    for case, hours in ((theirs, 26), (first, 3), (second, 1)):
        happened_earlier(case, timedelta(hours=hours, minutes=10))

    sign_in(page, sam)
    page.get_by_role("link", name=re.compile(r"^Approvals")).click()
    page.get_by_role("heading", name="Approvals waiting for you").wait_for()
    row = page.locator(f"#case-{theirs.pk}")
    assert "You cannot decide: You worked on this case" in row.inner_text()
    assert "Overdue" in row.inner_text()
    assert "3\xa0hours" in page.locator(f"#case-{first.pk}").inner_text()  # waiting
    assert page.get_by_role("link", name=f"#{theirs.pk}: review").count() == 0
    if js:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "supervisor-approvals.png"))

    # The most urgent case they may decide comes first.
    page.get_by_role("link", name=f"Next: case {second.pk}").click()
    page.get_by_role("heading", name=f"Approve or deny case #{second.pk}").wait_for()
    trail = page.locator("section", has=page.get_by_role(
        "heading", name="Verification steps and evidence")).inner_text()
    assert "Passed by Bea Agent" in trail and "Morgan Manager" in trail
    assert "The caller read back the code." in trail
    assert "Due soon" in page.locator("section", has=page.get_by_role(
        "heading", name="Your decision")).inner_text()
    if js:
        page.screenshot(path=str(ARTIFACTS / "supervisor-decide.png"), full_page=True)
    decide(page, "Same evidence, same answer: code to the phone and the manager agrees.")

    page.get_by_text(f"Your decision on case {second.pk} is recorded.").wait_for()
    page.get_by_role("link", name=f"Next: case {first.pk}").wait_for()
    assert page.locator(f"#case-{second.pk}").count() == 0
    page.keyboard.press("Enter")  # the next case has the focus
    page.get_by_role("heading", name=f"Approve or deny case #{first.pk}").wait_for()
    decide(page, "Code on the registered phone and the manager's answer agree.")
    page.get_by_text("Nothing else is waiting for your decision.").wait_for()
    for case in (first, second):
        case.refresh_from_db()
        assert case.state == RecoveryCase.State.APPROVED

    page.goto(f"/cases/{first.pk}/")
    timeline = page.locator("ol.timeline")
    text = timeline.inner_text()
    assert "Approved by Sam Supervisor: “Code on the registered phone" in text
    assert "Case opened at the service desk" in text and "case_opened" not in text
    if js:
        page.evaluate("document.getElementById('timeline-heading').scrollIntoView()")
        page.screenshot(path=str(ARTIFACTS / "case-timeline.png"))
