"""The reset queue: who sees which case, filters, claiming, and a query
count that does not grow with the number of cases."""

import pytest
from django.forms import Select
from django.urls import reverse

from recovery_console import forms
from recovery_console.models import RecoveryCase
from tests.factories import recovery_case, staff
from tests.sessions import sign_in_client

from .support import refusals

pytestmark = pytest.mark.django_db
QUEUE = reverse("recovery:queue")


def test_agent_sees_unclaimed_cases_and_claims_one_through_the_queue(client):
    agent = staff("agent")
    case = recovery_case("high")
    sign_in_client(client, agent)
    page = client.get(QUEUE)
    assert page.status_code == 200
    assert case.identity.display_name in page.content.decode()
    response = client.post(reverse("recovery:claim", args=[case.pk]))
    assert response.status_code == 302 and response.url == reverse("recovery:case",
                                                                    args=[case.pk])
    case.refresh_from_db()
    assert case.agent == agent and case.state == RecoveryCase.State.VERIFYING


def test_queue_filters_by_tier_assignment_and_kind(client):
    agent = staff("agent")
    low = recovery_case("low", agent=agent)
    high = recovery_case("high")
    restricted = recovery_case("restricted")
    sign_in_client(client, agent)

    def shown(**params):
        page = client.get(QUEUE, params)
        return {c.pk for c in page.context["cases"]}

    assert shown() == {low.pk, high.pk, restricted.pk}
    assert shown(tier="high") == {high.pk}
    assert shown(assigned="mine") == {low.pk}
    assert shown(assigned="unassigned") == {high.pk, restricted.pk}
    contractor = recovery_case("medium", kind="contractor")
    assert shown(kind="contractor") == {contractor.pk}
    assert shown(tier="not-a-tier") == {low.pk, high.pk, restricted.pk, contractor.pk}


def test_a_case_held_by_another_agent_is_listed_only_with_its_holder_and_its_page_is_404(
        client):
    holder, other = staff("agent", first_name="Bea", last_name="Agent"), staff("agent")
    case = recovery_case("low", agent=holder)
    sign_in_client(client, other)
    # Listed so the agent sees who holds it, never openable or claimable.
    page = client.get(QUEUE)
    [listed] = [c for c in page.context["cases"] if c.pk == case.pk]
    assert not listed.may_open and not listed.may_select
    html = page.content.decode()
    assert "Held by Bea Agent" in html
    assert reverse("recovery:case", args=[case.pk]) not in html
    assert reverse("recovery:claim", args=[case.pk]) not in html
    assert client.get(reverse("recovery:case", args=[case.pk])).status_code == 404
    assert client.post(reverse("recovery:unclaim", args=[case.pk])).status_code == 404
    assert client.get(reverse("recovery:case", args=[999999])).status_code == 404


def test_an_agent_sees_closed_cases_only_ones_they_worked(client):
    worker, other = staff("agent"), staff("agent")
    worked = recovery_case("low", agent=worker)
    unclaimed = recovery_case("low")
    RecoveryCase.objects.filter(pk__in=[worked.pk, unclaimed.pk]).update(
        state=RecoveryCase.State.EXPIRED)
    for agent, allowed in ((worker, {worked.pk}), (other, set())):
        sign_in_client(client, agent)
        for case in (worked, unclaimed):
            status = client.get(reverse("recovery:case", args=[case.pk])).status_code
            assert status == (200 if case.pk in allowed else 404), (agent, case)
        listed = {c.pk for c in client.get(QUEUE, {"status": "all"}).context["cases"]}
        assert listed & {worked.pk, unclaimed.pk} == allowed
        listed = {c.pk for c in client.get(QUEUE, {"status": "expired"}).context["cases"]}
        assert listed & {worked.pk, unclaimed.pk} == allowed
        client.logout()


def test_a_single_open_state_filter_lists_only_that_state(client):
    agent = staff("agent")
    mine, waiting = recovery_case("low", agent=agent), recovery_case("low")
    RecoveryCase.objects.filter(pk=mine.pk).update(state=RecoveryCase.State.VERIFYING)
    sign_in_client(client, agent)
    listed = {c.pk for c in client.get(QUEUE, {"status": "verifying"}).context["cases"]}
    assert mine.pk in listed and waiting.pk not in listed


def test_claim_needs_post(client):
    agent = staff("agent")
    case = recovery_case("low")
    sign_in_client(client, agent)
    assert client.get(reverse("recovery:claim", args=[case.pk])).status_code == 405
    case.refresh_from_db()
    assert case.agent is None


def test_claiming_twice_is_refused_with_a_message_and_audited(client):
    agent = staff("agent")
    case = recovery_case("low", agent=agent)
    sign_in_client(client, agent)
    response = client.post(reverse("recovery:claim", args=[case.pk]))
    assert response.status_code == 409
    assert "You already hold this case." in response.content.decode()
    assert refusals("case_claim", "already_holder").get().actor == agent


def test_unclaiming_returns_the_case_to_the_queue(client):
    agent = staff("agent")
    case = recovery_case("low", agent=agent)
    sign_in_client(client, agent)
    assert client.post(reverse("recovery:unclaim", args=[case.pk])).status_code == 302
    case.refresh_from_db()
    assert case.agent is None


def test_people_without_a_staff_role_cannot_see_the_queue(client):
    from tests.factories import TOTPDeviceFactory, UserFactory

    user = UserFactory()
    TOTPDeviceFactory(user=user)
    sign_in_client(client, user)
    assert client.get(QUEUE).status_code == 403


@pytest.mark.parametrize("role", ["agent", "supervisor"])
def test_queue_query_count_does_not_grow_with_the_number_of_cases(
        client, django_assert_max_num_queries, role):
    viewer = staff(role)
    sign_in_client(client, viewer)
    holder = staff("agent")
    for tier in ("low", "high", "restricted"):
        recovery_case(tier, agent=holder if role == "supervisor" else None)
    # A supervisor's page also counts the approvals waiting (the navigation).
    with django_assert_max_num_queries(9 if role == "agent" else 11) as few:
        assert client.get(QUEUE).status_code == 200
    for _ in range(3):
        for tier in ("low", "medium", "high"):
            recovery_case(tier, agent=holder if role == "supervisor" else None)
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(QUEUE)
    assert len(page.context["cases"]) == 12


def test_queue_is_paginated_and_keeps_its_filters(client, settings):
    settings.RECOVERY_QUEUE_PAGE_SIZE = 2
    sign_in_client(client, staff("supervisor"))
    cases = [recovery_case("low") for _ in range(3)]
    first = client.get(QUEUE, {"tier": "low"})
    assert [c.pk for c in first.context["cases"]] == [c.pk for c in cases[:2]]
    assert "tier=low&amp;page=2" in first.content.decode()
    second = client.get(QUEUE, {"tier": "low", "page": 2})
    assert [c.pk for c in second.context["cases"]] == [cases[2].pk]


@pytest.mark.parametrize("query", [{}, {"status": "all", "tier": "high"}, {"assigned": "mine"},
                                   {"kind": "contractor", "status": "verifying"},
                                   {"status": "bogus", "tier": "nope"}, {"status": ""}])
def test_the_queue_filters_read_as_django_renders_them_whatever_was_chosen(query):
    # Each choice's HTML is kept once rendered; a value that is no choice never is.
    for _ in range(2):
        kept = forms.QueueFilterForm(query)
        kept.is_valid()
        for name in ("status", "tier", "assigned", "kind"):
            field = kept[name]
            assert str(field) == field.as_widget(widget=Select(choices=field.field.choices))
