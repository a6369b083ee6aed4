"""Handing a case over and reassigning it, through HTTP: the holding agent
hands it to a named colleague with a note; a supervisor gives any open case
to an agent. Each refusal comes with its reason and status, is audited, and
changes nothing. Agents see who holds the cases they cannot open."""

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from recovery_console import selectors, workflow
from recovery_console.models import CaseNote, RecoveryCase
from tests.factories import TOTPDeviceFactory, recovery_case, staff
from tests.sessions import sign_in_client

from .support import events, refusals, step_up_now, verify

pytestmark = pytest.mark.django_db
State = RecoveryCase.State
QUEUE = reverse("recovery:queue")


def case_url(case):
    return reverse("recovery:case", args=[case.pk])


def hand_over_url(case):
    return reverse("recovery:hand_over", args=[case.pk])


def reassign_url(case):
    return reverse("recovery:reassign", args=[case.pk])


def may_work(user, case) -> bool:
    return user.has_perm(workflow.WORK_PERMISSION, RecoveryCase.objects.get(pk=case.pk))


def holding(case):
    """What a refused hand-over or reassignment must leave as it was."""
    case.refresh_from_db()
    return case.agent_id, case.state, case.claimed_at, CaseNote.objects.count()


@pytest.fixture
def ann():
    return staff("agent", first_name="Ann", last_name="Agent", username="ann")


@pytest.fixture
def bea():
    return staff("agent", first_name="Bea", last_name="Agent", username="bea")


def test_an_agent_hands_a_case_to_a_colleague_with_a_note(client, ann, bea):
    case = recovery_case("medium", agent=ann)
    sign_in_client(client, ann)
    page = client.get(case_url(case)).content.decode()
    assert "Hand over to a colleague" in page
    assert f'<option value="{bea.pk}">Bea Agent (bea)</option>' in page
    assert "Ann Agent (ann)</option>" not in page  # not to oneself
    response = client.post(hand_over_url(case), {
        "to": bea.pk, "note": "Code step done; the caller rings back at 15:00."})
    assert response.status_code == 302 and response.url == QUEUE
    case.refresh_from_db()
    assert case.agent == bea and case.state == State.VERIFYING
    assert may_work(bea, case) and not may_work(ann, case)
    entry = events("case_handed_over").get()
    assert entry.actor == ann and entry.object_pk == str(case.pk)
    assert entry.additional_data == {
        "event": "case_handed_over", "to": bea.pk, "to_name": "Bea Agent",
        "note": "Code step done; the caller rings back at 15:00."}
    # Ann is told, sees who holds it now, and can no longer open it.
    queue = client.get(QUEUE).content.decode()
    assert f"Case #{case.pk} is handed over to Bea Agent." in queue
    assert "Held by Bea Agent" in queue
    assert client.get(case_url(case)).status_code == 404
    # Bea holds it, with Ann's note.
    sign_in_client(client, bea)
    page = client.get(case_url(case)).content.decode()
    notes = page[page.index('id="notes"'):]
    assert "Ann Agent" in notes and "Handed over to Bea Agent" in notes
    assert "the caller rings back at 15:00." in notes
    assert "Give back to the queue" in page


def test_a_case_handed_over_can_be_worked_by_the_new_holder(ann, bea):
    case = recovery_case("low", agent=ann)
    workflow.hand_over(case, ann, bea, "Over to you.")
    verify(case, bea)
    assert case.state == State.APPROVED  # a low case needs no supervisor
    with pytest.raises(workflow.WorkflowError) as refused:
        workflow.unclaim(case, ann)
    assert refused.value.reason == "not_holder"


def refusal_case(kind, ann, bea):
    """A case, the person who tries to hand it over, and to whom."""
    if kind == "not_holder":
        return recovery_case("low"), ann, bea  # unclaimed: Ann may see it, not hand it
    case = recovery_case("high" if kind == "target_decided" else "low", agent=ann)
    if kind == "target_not_agent":
        return case, ann, staff("supervisor")
    if kind == "target_inactive":
        bea.is_active = False
        bea.save()
        return case, ann, bea
    if kind == "target_holds":
        return case, ann, ann
    if kind == "target_subject":
        subject = case.identity.user
        subject.groups.add(Group.objects.get(name="agent"))
        return case, ann, subject
    if kind == "target_decided":
        both = staff("agent", "supervisor")
        verify(case, ann)
        workflow.request_approval(case, ann)
        workflow.approve(case, both, "Evidence agrees.", step_up=step_up_now())
        return case, ann, both
    if kind == "state":
        workflow.cancel(case, ann, "Duplicate.")
        return case, ann, bea
    raise AssertionError(kind)


@pytest.mark.parametrize(("kind", "status", "message"), [
    ("not_holder", 403, "Claim this case before working on it."),
    ("target_not_agent", 400, "is not an agent: only an agent can hold a case."),
    ("target_inactive", 400, "Bea Agent&#x27;s account is not active."),
    ("target_holds", 409, "Ann Agent already holds this case."),
    ("target_subject", 403, "own recovery: they cannot work on it."),
    ("target_decided", 403, "decided on this case&#x27;s approval"),
    ("state", 409, "You cannot hand over a case while the case is cancelled."),
])
def test_a_refused_hand_over_says_why_and_changes_nothing(client, ann, bea, kind, status,
                                                          message):
    case, agent, to = refusal_case(kind, ann, bea)
    before = holding(case)
    sign_in_client(client, agent)
    response = client.post(hand_over_url(case), {"to": to.pk, "note": "Over to you."})
    assert response.status_code == status
    assert message in response.content.decode()
    assert holding(case) == before
    assert not events("case_handed_over").exists()
    assert refusals("case_hand_over", kind).get().actor == agent


def test_a_hand_over_needs_a_colleague_and_a_note(client, ann, bea):
    case = recovery_case("low", agent=ann)
    before = holding(case)
    sign_in_client(client, ann)
    for data, message in (({"note": "Over to you."}, "Choose a colleague."),
                          ({"to": bea.pk, "note": ""}, "Write the note."),
                          ({"to": 999999, "note": "Over."}, "Choose a colleague from the list."),
                          ({"to": bea.pk, "note": "\x07"}, "U+0007")):
        response = client.post(hand_over_url(case), data)
        assert response.status_code == 400, data
        assert message in response.content.decode()
        assert holding(case) == before


def test_a_colleague_holding_a_case_cannot_have_it_handed_over_by_someone_else(client, ann,
                                                                               bea):
    case = recovery_case("low", agent=bea)
    sign_in_client(client, ann)
    assert client.post(hand_over_url(case), {"to": ann.pk, "note": "Mine now."}
                       ).status_code == 404
    assert holding(case)[0] == bea.pk


def test_a_supervisor_reassigns_a_held_case_to_another_agent(client, ann, bea):
    case = recovery_case("medium", agent=ann)
    supervisor = staff("supervisor", first_name="Sam", last_name="Supervisor")
    sign_in_client(client, supervisor)
    page = client.get(case_url(case)).content.decode()
    assert "Reassign to another agent" in page
    response = client.post(reassign_url(case), {"to": bea.pk, "note": "Ann is off sick."})
    assert response.status_code == 302 and response.url == case_url(case)
    case.refresh_from_db()
    assert case.agent == bea and may_work(bea, case) and not may_work(ann, case)
    entry = events("case_reassigned").get()
    assert entry.actor == supervisor
    assert entry.additional_data == {
        "event": "case_reassigned", "to": bea.pk, "to_name": "Bea Agent", "from": ann.pk,
        "from_name": "Ann Agent", "note": "Ann is off sick."}
    page = client.get(case_url(case)).content.decode()
    assert f"Case #{case.pk} is reassigned to Bea Agent." in page
    assert "Reassigned from Ann Agent to Bea Agent" in page
    sign_in_client(client, ann)
    assert client.get(case_url(case)).status_code == 404


def test_a_supervisor_assigns_a_new_case_and_its_verification_starts(client, bea):
    case = recovery_case("low")
    assert case.state == State.NEW
    sign_in_client(client, staff("supervisor"))
    assert "Assign to an agent" in client.get(case_url(case)).content.decode()
    assert client.post(reassign_url(case), {"to": bea.pk, "note": "Yours."}).status_code == 302
    case.refresh_from_db()
    assert case.agent == bea and case.state == State.VERIFYING and case.claimed_at
    data = events("case_reassigned").get().additional_data
    assert data["from"] is None and data["from_name"] == ""
    assert CaseNote.objects.get().occasion == "Assigned to Bea Agent"


@pytest.mark.parametrize(("kind", "status"), [
    ("target_not_agent", 400), ("target_subject", 403), ("target_decided", 403),
    ("state", 409)])
def test_a_refused_reassignment_says_why_and_changes_nothing(client, ann, bea, kind, status):
    case, _agent, to = refusal_case(kind, ann, bea)
    supervisor = staff("supervisor")
    before = holding(case)
    sign_in_client(client, supervisor)
    response = client.post(reassign_url(case), {"to": to.pk, "note": "Balancing."})
    assert response.status_code == status
    assert holding(case) == before
    assert refusals("case_reassign", kind).get().actor == supervisor


def test_a_supervisor_cannot_reassign_their_own_recovery(client, ann, bea):
    case = recovery_case("low", agent=ann)
    subject = case.identity.user
    subject.groups.add(Group.objects.get(name="supervisor"))
    TOTPDeviceFactory(user=subject)
    before = holding(case)
    sign_in_client(client, subject)
    assert "Reassign" not in client.get(case_url(case)).content.decode()
    response = client.post(reassign_url(case), {"to": bea.pk, "note": "Give it to Bea."})
    assert response.status_code == 403
    assert holding(case) == before
    assert refusals("case_reassign", "subject").exists()


@pytest.mark.parametrize("role", ["agent", "auditor", "security_admin"])
def test_only_supervisors_reassign(client, ann, bea, role):
    case = recovery_case("low", agent=ann)
    before = holding(case)
    sign_in_client(client, ann if role == "agent" else staff(role))
    assert client.post(reassign_url(case), {"to": bea.pk, "note": "Mine."}).status_code == 403
    assert holding(case) == before


def test_someone_handed_a_case_has_worked_it_and_may_not_decide_it(ann):
    """Separation of duties: holding a case by hand-over counts like claiming it."""
    both = staff("agent", "supervisor")
    case = recovery_case("high", agent=ann)
    workflow.hand_over(case, ann, both, "Can you take this?")
    workflow.hand_over(case, both, ann, "Back to you, sorry.")
    verify(case, ann)
    workflow.request_approval(case, ann)
    case.refresh_from_db()
    assert workflow.may_decide(case, both).reason == "worked_case"
    assert not selectors.pending_approvals(both).filter(pk=case.pk).exists()
    other = staff("supervisor")
    assert selectors.pending_approvals(other).filter(pk=case.pk).exists()
    reassigned = recovery_case("high", agent=ann)
    workflow.reassign(reassigned, other, both, "Take this one.")
    workflow.reassign(reassigned, other, ann, "Ann again.")
    verify(reassigned, ann)
    workflow.request_approval(reassigned, ann)
    reassigned.refresh_from_db()
    assert workflow.may_decide(reassigned, both).reason == "worked_case"
    assert not selectors.pending_approvals(both).filter(pk=reassigned.pk).exists()
    # Reassigning alone is not working the case: the supervisor may still decide.
    assert workflow.may_decide(reassigned, other) is None


def test_an_agent_sees_who_holds_the_cases_they_cannot_open_and_nothing_more(client, ann,
                                                                               bea):
    held = recovery_case("low", agent=bea)
    workflow.add_note(held, bea, "Secret-ish: caller's manager is on leave.")
    mine = recovery_case("low", agent=ann)
    closed = recovery_case("low", agent=bea)
    workflow.cancel(closed, bea, "Duplicate.")
    sign_in_client(client, ann)
    page = client.get(QUEUE, {"status": "all"})
    html = page.content.decode()
    listed = {case.pk: case for case in page.context["cases"]}
    assert set(listed) == {held.pk, mine.pk}  # a colleague's closed case stays unlisted
    assert listed[mine.pk].may_open and not listed[held.pk].may_open
    assert "Held by Bea Agent" in html
    assert case_url(held) not in html and case_url(mine) in html
    assert "manager is on leave" not in html
    assert client.get(case_url(held)).status_code == 404
    # Without the name, the username.
    anon = staff("agent", first_name="", last_name="", username="cy")
    workflow.hand_over(mine, ann, anon, "Over.")
    assert "Held by cy" in client.get(QUEUE).content.decode()


@pytest.mark.parametrize("role", ["agent", "supervisor"])
def test_the_queue_costs_the_same_queries_with_more_held_cases(django_assert_max_num_queries,
                                                               ann, bea, role):
    viewer = ann if role == "agent" else staff("supervisor")
    client = sign_in_client(Client(), viewer)

    def add_cases():
        recovery_case("low", agent=ann)
        recovery_case("medium", agent=bea)
        recovery_case("high")

    add_cases()
    with django_assert_max_num_queries(14) as few:
        assert client.get(QUEUE).status_code == 200
    for _ in range(4):
        add_cases()
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(QUEUE)
    assert len(page.context["cases"]) == 15
    assert page.context["bulk"]
