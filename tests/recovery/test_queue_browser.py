"""An agent searches and sorts the reset queue in headless Chromium, moves
through it with the keyboard and opens a case; then the same journey with
JavaScript off (links, buttons and a <details> list of shortcuts). Saves
agent-queue.png (1366x900) in the test artifacts."""

from datetime import timedelta

import pytest
from django.utils import timezone

from recovery_console.models import RecoveryCase
from tests.conftest import ARTIFACTS
from tests.factories import recovery_case, staff

from .test_journeys_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("recovery_reference_data")]


@pytest.fixture
def desk():
    """An agent and a morning's queue: three Smiths among others, one case
    overdue, one due within the hour."""
    agent = staff("agent", first_name="Bea", last_name="Agent")
    now = timezone.now()
    people = [("Sam Smith", "low", 50), ("Ana Pérez", "medium", 300), ("Jo Smith", "high", 25),
              ("Kira Ivanova", "restricted", 2000), ("Lee Smith", "medium", -12),
              ("Noor Haddad", "low", 1500), ("Tomás Silva", "high", 900)]
    cases = {}
    for hours_ago, (name, tier, minutes_left) in enumerate(people, start=1):
        case = recovery_case(tier, display_name=name,
                             agent=agent if name == "Tomás Silva" else None)
        RecoveryCase.objects.filter(pk=case.pk).update(
            opened_at=now - timedelta(hours=10 - hours_ago),
            deadline=now + timedelta(minutes=minutes_left))
        cases[name] = case
    return agent, cases


def names(page) -> list[str]:
    """The people in the table, top to bottom (first name and surname), read
    once the page a click navigated to has loaded: a click returns when the
    navigation commits, before the new table is parsed."""
    page.wait_for_load_state("load")
    page.locator("#queue-cases thead").wait_for()
    person = page.locator("#queue-cases thead th").all_inner_texts().index("Person")
    cells = page.locator(f"#queue-cases tbody tr > td:nth-child({person + 1})")
    return [" ".join(text.split()[:2]) for text in cells.all_inner_texts()]


def test_an_agent_searches_sorts_and_moves_through_the_queue_with_the_keyboard(page, desk):
    agent, cases = desk
    page.set_viewport_size({"width": 1366, "height": 900})
    sign_in(page, agent)
    assert page.get_by_text("1 overdue").is_visible()
    assert page.get_by_text("2 due within 1\xa0hour").is_visible()
    page.keyboard.press("/")
    search = page.get_by_role("searchbox", name="Search")
    assert search.evaluate("el => el === document.activeElement")
    search.fill("smith")
    page.keyboard.press("Enter")
    page.get_by_text("Cases matching “smith” (3)").wait_for()
    assert names(page) == ["Sam Smith", "Jo Smith", "Lee Smith"]  # oldest first

    page.get_by_role("link", name="Deadline: sort nearest deadline first").click()
    page.get_by_text("Sorted by deadline, nearest deadline first").wait_for()
    assert "q=smith" in page.url and "sort=deadline" in page.url
    assert names(page) == ["Lee Smith", "Jo Smith", "Sam Smith"]
    deadline = page.get_by_role("columnheader", name="Deadline")
    assert deadline.get_attribute("aria-sort") == "ascending" and "▲" in deadline.inner_text()
    first = page.locator("#queue-cases tbody tr").first
    assert "Overdue by 1" in first.inner_text()
    assert "Due soon" in page.locator("#queue-cases tbody tr").nth(1).inner_text()

    page.keyboard.press("j")
    page.keyboard.press("j")
    selected = page.locator("#queue-cases tbody tr.selected")
    assert selected.count() == 1 and "Jo Smith" in selected.inner_text()
    page.keyboard.press("k")
    assert "Lee Smith" in page.locator("#queue-cases tbody tr.selected").inner_text()
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name=f"Case #{cases['Jo Smith'].pk}").wait_for()
    page.go_back()

    page.get_by_role("searchbox", name="Search").wait_for()
    page.keyboard.press("?")
    shortcuts = page.locator("#shortcuts")
    assert shortcuts.get_attribute("open") is not None
    assert page.get_by_text("Next case in the table").is_visible()
    page.keyboard.press("Escape")
    assert shortcuts.get_attribute("open") is None

    search = page.get_by_role("searchbox", name="Search")
    search.fill("j")  # keys typed into the search box are the box's
    assert page.locator("#queue-cases tbody tr.selected").count() == 0
    page.get_by_role("link", name="Clear search").click()
    page.get_by_text("Recovery cases (7)").wait_for()
    page.get_by_role("link", name="Tier: sort highest tier first").click()
    page.get_by_text("Sorted by tier, highest tier first").wait_for()
    assert names(page)[0] == "Kira Ivanova"
    page.get_by_role("link", name="Deadline: sort nearest deadline first").click()
    page.get_by_text("Sorted by deadline, nearest deadline first").wait_for()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "agent-queue.png"))


def test_the_same_journey_works_without_javascript(browser, live_server, desk):
    agent, cases = desk
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False,
                                  viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, agent)
    page.get_by_role("searchbox", name="Search").fill(cases["Ana Pérez"].identity.directory_id)
    page.get_by_role("button", name="Search", exact=True).click()
    page.get_by_text("(1)").wait_for()
    assert names(page) == ["Ana Pérez"]

    page.get_by_role("searchbox", name="Search").fill("smith")
    page.get_by_label("Tier", exact=True).select_option("medium")
    page.get_by_role("button", name="Filter").click()
    assert names(page) == ["Lee Smith"]
    page.get_by_label("Tier", exact=True).select_option("")
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("link", name="Deadline: sort nearest deadline first").click()
    page.get_by_role("link", name="Deadline: sort furthest deadline first").click()
    page.get_by_text("Sorted by deadline, furthest deadline first").wait_for()
    assert names(page) == ["Sam Smith", "Jo Smith", "Lee Smith"]
    assert page.get_by_role("columnheader", name="Deadline").get_attribute(
        "aria-sort") == "descending"
    page.get_by_role("searchbox", name="Search").fill("lee")
    page.get_by_role("button", name="Search", exact=True).click()  # the sort stays
    assert "sort=-deadline" in page.url and names(page) == ["Lee Smith"]

    page.get_by_text("Keyboard shortcuts", exact=True).click()  # a <details>: no script
    assert page.get_by_text("Previous case in the table").is_visible()
    page.get_by_role("link", name=f"#{cases['Lee Smith'].pk}").click()
    page.get_by_role("heading", name=f"Case #{cases['Lee Smith'].pk}").wait_for()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context.close()
