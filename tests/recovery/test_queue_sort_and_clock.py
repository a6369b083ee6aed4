"""The queue sorts by header links kept in the URL (age, deadline, tier,
state) and says how it is sorted; each open case shows the time left to its
deadline, marked in words when due soon or overdue, and the page counts
those among the cases the viewer may see. Query counts stay constant."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.roles import roles_of
from recovery_console import clock, selectors
from recovery_console.models import RecoveryCase
from tests.factories import recovery_case, staff
from tests.sessions import sign_in_client

pytestmark = pytest.mark.django_db
QUEUE = reverse("recovery:queue")
State = RecoveryCase.State
NOW = timezone.now().replace(microsecond=0)


@pytest.fixture
def supervisor_client(client):
    sign_in_client(client, staff("supervisor"))
    return client


@pytest.fixture
def frozen(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW)
    return NOW


def listed(client, **params) -> list[int]:
    response = client.get(QUEUE, params)
    assert response.status_code == 200
    return [c.pk for c in response.context["cases"]]


def set_case(case, **fields):
    RecoveryCase.objects.filter(pk=case.pk).update(**fields)


def header(body: str, label: str) -> str:
    return re.search(rf'<th scope="col"[^>]*>(?:(?!</th>).)*?{label}(?:(?!</th>).)*</th>',
                     body, re.S).group(0)


def test_the_queue_sorts_by_age_deadline_tier_and_state_both_ways(supervisor_client):
    low, medium = recovery_case("low"), recovery_case("medium")
    high, restricted = recovery_case("high"), recovery_case("restricted")
    cases = [low, medium, high, restricted]
    for case, hours, deadline_in, state in (
            (low, 4, 9, State.APPROVED), (medium, 1, 2, State.NEW),
            (high, 3, 30, State.AWAITING_APPROVAL), (restricted, 2, 5, State.VERIFYING)):
        set_case(case, opened_at=NOW - timedelta(hours=hours),
                 deadline=NOW + timedelta(hours=deadline_in), state=state)
    set_case(medium, high_priority=True)
    pks = lambda *order: [c.pk for c in order]  # noqa: E731
    assert listed(supervisor_client) == pks(medium, low, high, restricted)  # urgent, then oldest
    assert listed(supervisor_client, sort="opened") == pks(low, high, restricted, medium)
    assert listed(supervisor_client, sort="-opened") == pks(medium, restricted, high, low)
    assert listed(supervisor_client, sort="deadline") == pks(medium, restricted, low, high)
    assert listed(supervisor_client, sort="-deadline") == pks(high, low, restricted, medium)
    assert listed(supervisor_client, sort="tier") == pks(low, medium, high, restricted)
    assert listed(supervisor_client, sort="-tier") == pks(restricted, high, medium, low)
    assert listed(supervisor_client, sort="state") == pks(medium, restricted, high, low)
    assert listed(supervisor_client, sort="-state") == pks(low, high, restricted, medium)
    assert sorted(listed(supervisor_client, sort="nonsense")) == sorted(pks(*cases))


def test_sort_links_keep_search_and_filters_and_show_the_current_sort(supervisor_client):
    recovery_case("low", display_name="Ana Smith")
    body = supervisor_client.get(QUEUE, {"q": "ana", "tier": "low", "page": "1"}).content.decode()
    deadline = header(body, "Deadline")
    assert "aria-sort" not in deadline
    assert 'href="?q=ana&amp;tier=low&amp;sort=deadline"' in deadline
    assert "sort nearest deadline first" in deadline  # what the link does, in words
    assert 'href="?q=ana&amp;tier=low&amp;sort=-tier"' in header(body, "Tier")  # highest first
    assert "Sorted urgent (repudiated) cases first, then oldest first" in body
    assert "<th scope=\"col\">Person</th>" in body  # columns that do not sort are plain

    body = supervisor_client.get(QUEUE, {"q": "ana", "sort": "deadline"}).content.decode()
    deadline = header(body, "Deadline")
    assert 'aria-sort="ascending"' in deadline and "▲" in deadline
    assert 'href="?q=ana&amp;sort=-deadline"' in deadline  # the other way round
    assert "Sorted by deadline, nearest deadline first" in body
    assert 'name="sort" value="deadline"' in body  # the search form keeps the sort
    assert body.count("aria-sort=") == 1

    body = supervisor_client.get(QUEUE, {"sort": "-tier"}).content.decode()
    assert 'aria-sort="descending"' in header(body, "Tier") and "▼" in header(body, "Tier")
    assert "Sorted by tier, highest tier first" in body


def test_each_open_case_shows_its_time_left_marked_when_due_soon_or_overdue(
        supervisor_client, frozen):
    later, soon, late = recovery_case("low"), recovery_case("low"), recovery_case("low")
    closed = recovery_case("low")
    set_case(later, deadline=NOW + timedelta(hours=2, minutes=5, seconds=30))
    set_case(soon, deadline=NOW + timedelta(minutes=45))
    set_case(late, deadline=NOW - timedelta(minutes=10))
    set_case(closed, deadline=NOW - timedelta(days=1), state=State.COMPLETED)
    response = supervisor_client.get(QUEUE, {"status": "all", "sort": "deadline"})
    body = response.content.decode()
    rows = dict(re.findall(r'<tr class="([\w-]+)">(?:(?!</tr>).)*?<a href="/cases/(\d+)/', body,
                           re.S))
    assert rows == {"closed": str(closed.pk), "due-overdue": str(late.pk),
                    "due-soon": str(soon.pk), "due-later": str(later.pk)}
    assert "2\xa0hours, 5\xa0minutes left" in body
    assert '<strong class="due soon">Due soon:</strong> 45\xa0minutes left' in body
    assert '<strong class="due overdue">Overdue</strong> by 10\xa0minutes' in body


def test_the_header_counts_due_soon_and_overdue_among_the_viewers_open_cases(
        client, frozen, settings):
    agent, holder = staff("agent"), staff("agent")
    mine, unclaimed = recovery_case("low", agent=agent), recovery_case("low")
    held, closed = recovery_case("low", agent=holder), recovery_case("low")
    for case, minutes in ((mine, -5), (unclaimed, 30), (held, -5), (closed, -5)):
        set_case(case, deadline=NOW + timedelta(minutes=minutes))
    set_case(closed, state=State.FAILED)
    sign_in_client(client, agent)
    body = client.get(QUEUE).content.decode()  # the held case is listed, not counted
    assert "1 overdue</span>" in body and "1 due within 1\xa0hour</span>" in body
    settings.RECOVERY_QUEUE_DUE_SOON_MINUTES = 20
    body = client.get(QUEUE, {"q": "nobody"}).content.decode()  # counts ignore the search
    assert "1 overdue</span>" in body and "0 due within 20\xa0minutes</span>" in body
    sign_in_client(client, staff("supervisor"))
    assert "2 overdue</span>" in client.get(QUEUE).content.decode()


def test_the_queue_and_the_approvals_list_say_deadlines_alike_each_with_its_window():
    case = RecoveryCase(deadline=NOW + timedelta(hours=1))
    assert selectors.deadline(case, NOW).due == "soon"  # approvals: within 12 hours
    assert selectors.deadline(case, NOW, selectors.queue_due_soon()).due == "soon"
    assert selectors.deadline(case, NOW, timedelta(minutes=59)).due == ""
    assert selectors.deadline(case, NOW + timedelta(hours=1)).due == "overdue"


@pytest.mark.parametrize("role, queries", [("agent", 2), ("supervisor", 2)])
@pytest.mark.parametrize("sort", ["", "opened", "-deadline", "tier", "-state"])
@pytest.mark.parametrize("search", ["", "smith", "+44 7700 900001", "x@example.org", "42"])
def test_the_queue_selector_costs_the_same_queries_whatever_the_search_and_sort(
        django_assert_max_num_queries, search, sort, role, queries):
    """A count, and the page's cases (for an agent, with which they may open)."""
    viewer = staff(role)
    recovery_case("low", agent=viewer if role == "agent" else None, display_name="Sam Smith")
    recovery_case("high", display_name="Jo Smith")
    filters = selectors.QueueFilters(search=search, sort=sort)
    roles_of(viewer)  # read once per request, as on a page
    with django_assert_max_num_queries(queries) as done:  # fewer when nothing is found
        found = selectors.queue(viewer, filters).object_list
    assert len(done.captured_queries) == queries or not found
    with django_assert_max_num_queries(1):
        selectors.deadline_counts(viewer, NOW, timedelta(hours=1))


@pytest.mark.parametrize("role", ["agent", "supervisor"])
def test_searching_and_sorting_the_queue_costs_the_same_queries_as_cases_grow(
        client, django_assert_max_num_queries, role):
    viewer, holder = staff(role), staff("agent")
    sign_in_client(client, viewer)
    params = {"q": "smith", "sort": "-deadline", "status": "all"}
    for tier in ("low", "high", "restricted"):
        recovery_case(tier, agent=holder if role == "supervisor" else None,
                      display_name="Sam Smith")
    with django_assert_max_num_queries(13) as few:
        assert client.get(QUEUE, params).status_code == 200
    for _ in range(3):
        for tier in ("low", "medium", "high"):
            recovery_case(tier, agent=holder if role == "supervisor" else None,
                          display_name="Sam Smith")
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(QUEUE, params)
    assert len(page.context["cases"]) == 12


@pytest.mark.parametrize("role", ["agent", "supervisor"])
@pytest.mark.parametrize("filters", [
    selectors.QueueFilters(), selectors.QueueFilters(sort="-deadline"),
    selectors.QueueFilters(tier="low"), selectors.QueueFilters(status="all", search="smith")])
def test_the_queue_and_its_clock_read_together_say_what_each_says_alone(
        django_assert_max_num_queries, role, filters):
    """On the open queue as it first shows, the clock's query counts the page too."""
    viewer, colleague = staff(role), staff("agent")
    recovery_case("low", agent=viewer if role == "agent" else None, display_name="Sam Smith")
    recovery_case("high", agent=colleague, display_name="Jo Smith")
    recovery_case("low", display_name="Al Smith")
    roles_of(viewer)  # read once per request, as on a page
    soon = timedelta(hours=1)
    alone = selectors.queue(viewer, filters, per_page=2)
    clock = selectors.deadline_counts(viewer, NOW, soon)
    first_view = filters in (selectors.QueueFilters(), selectors.QueueFilters(sort="-deadline"))
    with django_assert_max_num_queries(2 if first_view else 3):
        page, together = selectors.queue_with_clock(viewer, filters, 1, 2, NOW, soon)
    assert together == clock
    assert page.paginator.count == alone.paginator.count
    assert [c.pk for c in page.object_list] == [c.pk for c in alone.object_list]
    assert [c.may_open for c in page.object_list] == [c.may_open for c in alone.object_list]
