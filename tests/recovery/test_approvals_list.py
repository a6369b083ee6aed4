"""The supervisor's approvals list and decision page through HTTP: how long
each case has waited and how near its deadline is, why a case may not be
decided (the decision's own rule, before opening it), the whole trail on the
decision page, and the next case ready after deciding."""

import re
from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.urls import reverse
from django.utils import timezone

from recovery_console import selectors, workflow
from recovery_console.models import RecoveryCase
from tests.factories import recovery_case, staff
from tests.sessions import sign_in_client

from .support import step_up_now, verify

pytestmark = pytest.mark.django_db
APPROVALS = reverse("recovery:approvals")


def awaiting(tier, agent, **identity_fields):
    case = verify(recovery_case(tier, agent=agent, **identity_fields), agent)
    workflow.request_approval(case, agent)
    case.refresh_from_db()
    return case


def decide(client, case, decision="approve", reason="Evidence is complete and consistent."):
    return client.post(reverse("recovery:decide", args=[case.pk]),
                       {"decision": decision, "reason": reason})


def asked_ago(case, delta):
    """As if the agent had asked for approval ``delta`` ago."""
    LogEntry.objects.filter(object_pk=str(case.pk), additional_data__event="approval_requested"
                            ).update(timestamp=timezone.now() - delta)


def due_in(case, delta):
    RecoveryCase.objects.filter(pk=case.pk).update(deadline=timezone.now() + delta)


def row_of(page: str, case) -> str:
    page = page.replace("\xa0", " ")  # Django's "3 hours" keeps its words together
    return page.split(f'<tr id="case-{case.pk}"', 1)[1].split("</tr>", 1)[0]


@pytest.fixture
def supervisor(client):
    boss = staff("supervisor", first_name="Sam", last_name="Supervisor")
    sign_in_client(client, boss)
    return boss


def test_each_waiting_case_shows_how_long_it_has_waited_and_its_deadline(
        client, agent, supervisor):
    calm, soon, late = (awaiting("high", agent) for _ in range(3))
    asked_ago(calm, timedelta(hours=3, minutes=1))
    due_in(soon, timedelta(hours=5, minutes=1))
    due_in(late, -timedelta(hours=2, minutes=1))
    page = client.get(APPROVALS).content.decode()
    calm_row = row_of(page, calm)
    assert "<th scope=\"col\">Waiting since approval was requested</th>" in page
    assert re.search(r">3 hours, [12] minutes?</time></td>", calm_row)
    assert "left" in calm_row and "Overdue" not in calm_row and "Due soon" not in calm_row
    assert "Due soon:</strong> 5 hours" in row_of(page, soon)
    assert "Overdue</strong> by 2 hours" in row_of(page, late)
    # Nearest deadline first.
    assert page.index(f'id="case-{late.pk}"') < page.index(f'id="case-{soon.pk}"') \
        < page.index(f'id="case-{calm.pk}"')


def test_a_case_the_supervisor_may_not_decide_says_why_before_they_open_it(client, agent):
    worker = staff("agent", "supervisor")
    worked = awaiting("high", worker)
    own = awaiting("high", agent, user=worker)
    twice = awaiting("restricted", agent)
    open_to_them = awaiting("high", agent)
    workflow.approve(twice, worker, "First of two.", step_up=step_up_now())
    sign_in_client(client, worker)
    page = client.get(APPROVALS).content.decode()
    said = {
        worked: "You cannot decide: You worked on this case, so another supervisor must decide.",
        own: "You cannot decide: You cannot approve or deny a recovery of your own account.",
        twice: "You cannot decide: You already decided on this case.",
    }
    for case, why in said.items():
        row = row_of(page, case)
        assert why in row
        assert f"#{case.pk}: view" in row and ": review" not in row
        # The list says exactly what the decision refuses.
        refused = decide(client, case).content.decode()
        assert why.removeprefix("You cannot decide: ") in refused
    assert f"#{open_to_them.pk}: review" in row_of(page, open_to_them)
    assert "You may decide" in row_of(page, open_to_them)


def test_the_list_and_the_count_of_decidable_cases_agree_with_the_rule(client, agent):
    worker = staff("agent", "supervisor")
    for case_agent in (worker, agent, worker, agent):
        awaiting("high", case_agent)
    sign_in_client(client, worker)
    response = client.get(APPROVALS)
    decidable = {case.pk for case in response.context["cases"]}
    assert decidable == set(selectors.pending_approvals(worker).values_list("pk", flat=True))
    assert len(response.context["rows"]) == 4 and len(decidable) == 2


def test_after_deciding_the_list_comes_back_with_the_next_case_ready(
        client, agent, supervisor):
    first, second = awaiting("high", agent), awaiting("high", agent)
    due_in(first, timedelta(hours=1))
    response = decide(client, first)
    assert response.status_code == 302
    assert response["Location"] == f"{APPROVALS}?decided={first.pk}"
    page = client.get(response["Location"]).content.decode()
    assert f"Your decision on case {first.pk} is recorded." in page
    assert (f'href="{reverse("recovery:decide", args=[second.pk])}" autofocus>'
            f"Next: case {second.pk}, {second.identity.display_name}</a>") in page
    assert f'<tr id="case-{second.pk}" class="next">' in page
    assert f'id="case-{first.pk}"' not in page  # approved: no longer waiting
    # Without a decision just made, the next case is offered but takes no focus.
    assert "autofocus" not in client.get(APPROVALS).content.decode()
    after_last = client.get(decide(client, second)["Location"]).content.decode()
    assert "Nothing else is waiting for your decision." in after_last
    assert "Next: case" not in after_last


def test_the_next_case_is_one_the_supervisor_may_decide(client, agent):
    worker = staff("agent", "supervisor")
    theirs = awaiting("high", worker)
    due_in(theirs, timedelta(minutes=30))  # first in the list, but not theirs to decide
    other = awaiting("high", agent)
    sign_in_client(client, worker)
    page = client.get(APPROVALS).content.decode()
    assert f"Next: case {other.pk}," in page and f"Next: case {theirs.pk}," not in page


def test_the_decision_page_shows_the_whole_trail_being_approved(client, agent, supervisor):
    case = awaiting("high", agent)
    phone = case.identity.channels.get(kind="phone")
    page = client.get(reverse("recovery:decide", args=[case.pk])).content.decode()
    trail = page.split('id="trail-heading"', 1)[1].split("</section>", 1)[0]
    for step in case.script.steps.all():
        assert step.title in trail
    agent_name = agent.get_full_name()
    assert f"Passed by <strong>{agent_name}</strong>" in trail
    assert f"through {phone}" in trail and "The caller read back the code." in trail
    assert "Passed by <strong>Morgan Manager</strong>" in trail
    brief = page.split('id="decision-heading"', 1)[1].split("</dl>", 1)[0]
    assert "since approval was requested" in brief and "left" in brief
    assert str(phone) in brief  # the channels used
    assert "2 of 2 required steps passed" in brief
    assert f"Code sent to {str(phone).replace('Phone (SMS/voice)', 'phone')}" in page
    assert "Approval requested from a supervisor" in page
    assert page.count('<ol class="timeline">') == 1


def test_the_decision_page_says_why_it_cannot_be_decided(client, agent):
    worker = staff("agent", "supervisor")
    case = awaiting("high", worker)
    sign_in_client(client, worker)
    page = client.get(reverse("recovery:decide", args=[case.pk])).content.decode()
    assert "Record decision" not in page
    assert "This case is not waiting for your decision: You worked on this case" in page


def test_the_approvals_list_reads_the_same_number_of_queries_as_cases_pile_up(
        client, agent, django_assert_max_num_queries):
    worker = staff("agent", "supervisor")
    for case_agent in (worker, agent):
        awaiting("high", case_agent)
    awaiting("restricted", agent, user=worker)
    sign_in_client(client, worker)
    client.get(APPROVALS)
    with django_assert_max_num_queries(14) as few:
        client.get(APPROVALS, {"decided": "1"})
    for case_agent in (worker, agent, worker, agent, agent):
        awaiting("high", case_agent)
    twice = awaiting("restricted", agent)
    workflow.approve(twice, worker, "First of two.", step_up=step_up_now())
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(APPROVALS, {"decided": "1"}).content.decode()
    assert page.count("You cannot decide:") == 5 and page.count(": review</a>") == 4
