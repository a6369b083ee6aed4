"""Hand-overs in a real browser, with JavaScript on and off: an agent notes a
case and hands it to a colleague, then sees it only as "held by" her; a
supervisor reassigns it to a third agent; the agent gives back two of her
cases at once from the queue, and the supervisor gives both to the colleague.
Saves case-page-notes.png and the other pages' shots at 1366x900."""

import pytest

from recovery_console.models import CaseNote, RecoveryCase
from tests.conftest import ARTIFACTS
from tests.factories import recovery_case, staff

from .test_journeys_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("recovery_reference_data")]


@pytest.fixture
def person(browser, live_server, settings):
    """Each person's own browser at 1366x900, JavaScript on or off."""
    settings.SITE_URL = live_server.url
    contexts = []

    def open_one(javascript: bool):
        context = browser.new_context(base_url=live_server.url, java_script_enabled=javascript,
                                      viewport={"width": 1366, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        return page

    yield open_one
    for context in contexts:
        context.close()


def shoot(page, name: str, javascript: bool, *, locator: str) -> None:
    """The 1366x900 window with ``locator`` in view, into ARTIFACTS."""
    page.locator(locator).scroll_into_view_if_needed()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}{'' if javascript else '-no-js'}.png"))


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_an_agent_notes_and_hands_over_a_case_and_a_supervisor_reassigns_it(person,
                                                                             javascript):
    ann = staff("agent", first_name="Ann", last_name="Agent", username="ann")
    bea = staff("agent", first_name="Bea", last_name="Agent", username="bea")
    cy = staff("agent", first_name="Cy", last_name="Agent", username="cy")
    sam = staff("supervisor", first_name="Sam", last_name="Supervisor", username="sam")
    case = recovery_case("medium", agent=ann)
    spare = [recovery_case("low", agent=ann), recovery_case("low", agent=ann)]

    agent = person(javascript)
    sign_in(agent, ann)
    agent.goto(f"/cases/{case.pk}/")
    agent.get_by_label("Note", exact=True).fill(
        "Caller rang from a train; the line dropped twice.\nShe will call back at 15:00.")
    agent.get_by_role("button", name="Add note").click()
    agent.get_by_text("Note added.").wait_for()
    notes = agent.locator("#notes")
    assert "She will call back at 15:00." in notes.inner_text()
    assert "Ann Agent" in notes.inner_text()

    agent.locator("summary", has_text="Hand over to a colleague").click()
    agent.get_by_label("Colleague").select_option(label="Bea Agent (bea)")
    agent.get_by_label("Note for them").fill("Code step passed. Attestation still to send.")
    shoot(agent, "case-hand-over", javascript, locator="#hand-over")
    agent.get_by_role("button", name="Hand over case").click()
    agent.get_by_text(f"Case #{case.pk} is handed over to Bea Agent.").wait_for()
    row = agent.locator("tr", has_text=f"#{case.pk}").first
    assert "Held by Bea Agent" in row.inner_text()
    assert row.get_by_role("link").count() == 0  # no way in to its details

    supervisor = person(javascript)
    sign_in(supervisor, sam, lands_on="Approvals waiting for you")  # their start page
    supervisor.goto(f"/cases/{case.pk}/")
    supervisor.locator("summary", has_text="Reassign to another agent").click()
    supervisor.locator("#id_reassign_to").select_option(label="Cy Agent (cy)")
    supervisor.locator("#id_reassign_note").fill("Bea is on the phones this afternoon.")
    supervisor.locator("#id_reassign_note").press("Tab")
    supervisor.get_by_role("button", name="Reassign case").click()
    supervisor.get_by_text(f"Case #{case.pk} is reassigned to Cy Agent.").wait_for()
    case.refresh_from_db()
    assert case.agent == cy
    assert CaseNote.objects.filter(case=case).count() == 3
    supervisor.get_by_label("Note", exact=True).fill("Cy: ring the caller before 15:00.")
    supervisor.get_by_role("button", name="Add note").click()
    supervisor.get_by_text("Note added.").wait_for()
    text = supervisor.locator("#notes").inner_text()
    for said in ("Handed over to Bea Agent", "Reassigned from Bea Agent to Cy Agent",
                 "Cy: ring the caller before 15:00."):
        assert said in text
    shoot(supervisor, "case-page-notes", javascript, locator="#notes")

    # Back in the queue, Ann gives back her two other cases at once.
    agent.goto("/queue/")
    for spare_case in spare:
        agent.get_by_label(f"Select case {spare_case.pk}").check()
    shoot(agent, "queue-held-by-and-bulk", javascript, locator="#bulk")
    agent.get_by_role("button", name="Give back selected cases").click()
    agent.get_by_text(f"2 cases (#{spare[0].pk}, #{spare[1].pk}) given back to the queue."
                      ).wait_for()
    assert holders(spare) == [None, None]

    # The supervisor gives both to Bea from the queue.
    supervisor.goto("/queue/")
    for spare_case in spare:
        supervisor.get_by_label(f"Select case {spare_case.pk}").check()
    supervisor.get_by_label("Reassign to").select_option(label="Bea Agent (bea)")
    supervisor.locator("#id_bulk_note").fill("Ann is at lunch: two callers are waiting.")
    shoot(supervisor, "queue-supervisor-bulk", javascript, locator="#bulk")
    supervisor.get_by_role("button", name="Reassign selected cases").click()
    supervisor.get_by_text(f"2 cases (#{spare[0].pk}, #{spare[1].pk}) reassigned to Bea Agent."
                           ).wait_for()
    assert holders(spare) == [bea.pk, bea.pk]


def holders(cases):
    return [RecoveryCase.objects.get(pk=case.pk).agent_id for case in cases]
