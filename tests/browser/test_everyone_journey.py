"""What everyone meets, in a real browser: the front door, each role's start
page with its counts, and a form that comes back with errors (focus moves to
the first error with JavaScript on; the summary still says it all with
JavaScript off)."""

import pytest
from django.test import Client
from django.utils import timezone

from recovery_console import workflow
from recovery_console.models import Alert
from tests.conftest import ARTIFACTS
from tests.factories import PASSWORD, recovery_case, staff
from tests.recovery.support import verify
from tests.sessions import sign_in_client

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("recovery_reference_data")]

SCREEN = {"width": 1366, "height": 900}


@pytest.fixture
def open_browser(browser, live_server, settings):
    """A new browser at 1366x900, signed in as ``user`` when given."""
    settings.WEBAUTHN_ORIGINS = [live_server.url]
    contexts = []

    def open_one(user=None, javascript=True):
        context = browser.new_context(base_url=live_server.url, viewport=SCREEN,
                                      java_script_enabled=javascript)
        contexts.append(context)
        if user is not None:
            session = sign_in_client(Client(), user).cookies[settings.SESSION_COOKIE_NAME].value
            context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session,
                                  "url": live_server.url}])
        page = context.new_page()
        page.set_default_timeout(10_000)
        return page

    yield open_one
    for context in contexts:
        context.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_someone_who_lost_their_passkey_finds_the_recovery_request_from_the_front_door(
        open_browser, javascript):
    page = open_browser(javascript=javascript)
    page.goto("/")
    assert page.title() == "Welcome — Recovery Console"
    if javascript:
        shot(page, "home-anonymous.png")
    page.get_by_role("link", name="Ask for recovery").click()
    page.get_by_role("heading", name="Lost your passkey?").wait_for()
    assert page.title() == "Recover your account — Recovery Console"
    page.go_back()
    page.get_by_role("link", name="Staff sign-in").click()
    page.get_by_role("heading", name="Staff sign-in").wait_for()


def awaiting_approval(count: int) -> None:
    for _ in range(count):
        agent = staff("agent")
        workflow.request_approval(verify(recovery_case("high", agent=agent), agent), agent)


@pytest.mark.parametrize("role, heading, title, link", [
    ("agent", "Reset queue", "Reset queue", "Reset queue"),
    ("supervisor", "Approvals waiting for you", "Approvals", "Approvals"),
    ("security_admin", "Recovery watch alerts", "Alerts", "Alerts"),
    ("auditor", "Auditor dashboard", "Auditor dashboard", "Audit"),
])
def test_each_role_lands_on_its_start_page(open_browser, role, heading, title, link):
    page = open_browser(staff(role))
    page.goto("/")
    page.get_by_role("heading", name=heading, level=1).wait_for()
    assert page.title() == f"{title} — Recovery Console"
    # The navigation marks where you are too.
    assert page.locator("nav[aria-label=Main] a[aria-current=page]").all_inner_texts() == [link]


def test_the_navigation_counts_what_waits_for_a_supervisor_and_a_security_admin(open_browser):
    awaiting_approval(2)
    case, admin_user = recovery_case("low"), staff("security_admin")
    Alert.objects.create(identity=case.identity, case=case, kind="new_network",
                         detail="Redeemed from an address not seen before.")
    Alert.objects.create(identity=case.identity, case=case, kind="passkey_enrolment",
                         detail="Another passkey was enrolled during the watch period.")
    Alert.objects.create(identity=case.identity, case=case, kind="channel_change",
                         detail="The email channel changed.", acknowledged_by=admin_user,
                         acknowledged_at=timezone.now())
    supervisor = open_browser(staff("supervisor"))
    supervisor.goto("/")
    supervisor.get_by_role("link", name="Approvals, 2 waiting", exact=True).wait_for()
    shot(supervisor, "nav-counts-supervisor.png")

    admin = open_browser(admin_user)
    admin.goto("/")
    admin.get_by_role("link", name="Alerts, 2 open", exact=True).wait_for()
    assert admin.get_by_role("link", name="Approvals", exact=True).is_visible()  # none waiting
    shot(admin, "nav-counts-security-admin.png")


def test_a_person_with_every_role_reads_each_link_on_one_line(open_browser):
    """The navigation of someone who is agent, supervisor, auditor and security
    admin at once wraps between links, never inside one, and never scrolls sideways."""
    page = open_browser(staff("agent", "supervisor", "auditor", "security_admin"))
    page.goto("/")
    links = page.locator("nav[aria-label=Main] a")
    assert links.count() >= 10
    heights = [links.nth(i).bounding_box()["height"] for i in range(links.count())]
    assert max(heights) < 1.5 * min(heights), heights  # no link broken over two lines
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, "nav-every-role.png")


def test_a_refused_sign_in_takes_focus_to_what_went_wrong(open_browser):
    agent = staff("agent")
    page = open_browser()
    page.goto("/accounts/sign-in/")
    page.get_by_label("Username").fill(agent.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Authenticator code").fill("000000")
    page.get_by_role("button", name="Sign in", exact=True).click()
    alert = page.get_by_role("alert")
    assert alert.inner_text().startswith("Sign-in failed")
    assert alert.evaluate("element => element === document.activeElement")


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_missing_field_takes_focus_to_the_first_field_to_correct(open_browser, javascript):
    page = open_browser(javascript=javascript)
    page.goto("/accounts/sign-in/")
    page.get_by_label("Username").fill("someone")
    page.get_by_role("button", name="Sign in", exact=True).click()
    summary = page.get_by_role("alert")
    summary.get_by_text("Correct the fields marked below").wait_for()
    password = page.get_by_label("Password")
    assert password.get_attribute("aria-invalid") == "true"
    # The error is the field's description: a screen reader reads it with the field.
    assert page.get_by_role("textbox", name="Password").evaluate(
        "e => e.getAttribute('aria-describedby')") == "id_password_error"
    focused = page.evaluate("document.activeElement.id")
    if javascript:
        assert focused == "id_password"
        shot(page, "form-errors-sign-in.png")
    else:
        summary.get_by_role("link", name="Password").click()
        assert page.url.endswith("#id_password")


def test_a_decision_without_a_choice_takes_focus_to_the_choice(open_browser):
    agent = staff("agent")
    case = verify(recovery_case("high", agent=agent), agent)
    workflow.request_approval(case, agent)
    page = open_browser(staff("supervisor"))
    page.goto(f"/approvals/{case.pk}/")
    page.get_by_label("Reason (required)").fill("Evidence agrees.")
    page.get_by_role("button", name="Record decision").click()
    page.get_by_role("group", name="Decision").wait_for()
    assert page.evaluate("document.activeElement.id") == "id_decision_0"
    assert page.title() == f"Decide on case {case.pk} — Recovery Console"
