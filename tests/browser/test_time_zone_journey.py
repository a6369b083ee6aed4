"""A staff member's browser in New York: the first page shows times in UTC
(labelled), the page's script tells the console the browser's zone, and from
the next page on every time shows in New York time."""

import re
from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.test import Client

from recovery_console.models import RecoveryCase
from tests.conftest import ARTIFACTS
from tests.factories import recovery_case, staff
from tests.sessions import sign_in_client

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("recovery_reference_data")]

OPENED = datetime(2026, 11, 29, 13, 5, 7, tzinfo=UTC)


def signed_in_browser(browser, live_server, **context_options):
    """A browser context carrying a signed-in agent's session, and their case."""
    agent = staff("agent")
    case = recovery_case("low", agent=agent)
    RecoveryCase.objects.filter(pk=case.pk).update(opened_at=OPENED)
    session = sign_in_client(Client(), agent).cookies[settings.SESSION_COOKIE_NAME].value
    context = browser.new_context(base_url=live_server.url, **context_options)
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session,
                          "url": live_server.url}])
    page = context.new_page()
    page.set_default_timeout(10_000)
    return context, page, case


def opened(page) -> tuple[str, str]:
    time_element = page.locator("dt:text-is('Opened') + dd time").first
    return time_element.get_attribute("datetime"), time_element.inner_text()


def test_a_browser_in_new_york_sees_new_york_times_from_its_second_page(browser,
                                                                          live_server):
    context, page, case = signed_in_browser(browser, live_server,
                                            timezone_id="America/New_York")
    try:
        page.goto(f"/cases/{case.pk}/")
        assert opened(page) == ("2026-11-29T13:05:07Z", "29 Nov 2026, 13:05 UTC")
        assert {"name": "tz", "value": "America%2FNew_York"}.items() <= next(
            c for c in context.cookies() if c["name"] == "tz").items()

        page.goto(f"/cases/{case.pk}/")
        assert opened(page) == ("2026-11-29T13:05:07Z", "29 Nov 2026, 08:05 EST")
        deadline = page.locator("dt:text-is('Deadline') + dd time").inner_text()
        assert deadline.endswith((" EST", " EDT"))
        assert page.get_by_role("link", name="Times in America/New_York").is_visible()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "times-in-new-york.png"), full_page=True)

        page.get_by_role("link", name="Reset queue").click()
        page.wait_for_url("**/queue/**")
        page.wait_for_load_state("load")
        queue = page.locator("main").inner_text()
        assert re.search(r"\d\d:\d\d E[SD]T", queue) and " UTC" not in queue
    finally:
        context.close()


def test_without_javascript_times_stay_in_utc_and_say_so(browser, live_server):
    context, page, case = signed_in_browser(browser, live_server,
                                            timezone_id="America/New_York",
                                            java_script_enabled=False)
    try:
        page.goto(f"/cases/{case.pk}/")
        page.goto(f"/cases/{case.pk}/")
        assert opened(page) == ("2026-11-29T13:05:07Z", "29 Nov 2026, 13:05 UTC")
        assert not [c for c in context.cookies() if c["name"] == "tz"]
    finally:
        context.close()
