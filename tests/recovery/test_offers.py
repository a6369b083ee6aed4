"""Every button shown is a button accepted: for each person (the holding
agent, another agent, a supervisor, a supervisor-agent who once claimed the
case and gave it back, a supervisor who already approved it, the case's own
subject, a security admin, an auditor) and each case state, the actions the
case page and the queue offer are exactly those the workflow accepts.

What the page offers is read from its HTML through HTTP; what the workflow
accepts is tried, one decision at a time, inside a savepoint rolled back
afterwards, so every try meets the same case."""

import re

import pytest
from django.contrib.auth.models import Group
from django.db import transaction
from django.test import Client
from django.urls import reverse

from recovery_console import selectors, workflow
from recovery_console.models import RecoveryCase, ScriptStep, Team
from tests.factories import TOTPDeviceFactory, reachable_identity, recovery_case, staff
from tests.sessions import sign_in_client

from .support import step_up_now, usable_channel, verify

pytestmark = pytest.mark.django_db

PEOPLE = ("holder", "other_agent", "supervisor", "gave_back", "approved_already", "subject",
          "security_admin", "auditor")
# URL of each offered action on the case page (the part after /cases/<pk>/).
ACTION_OF_URL = {"claim": "claim", "unclaim": "unclaim", "request-approval": "request_approval",
                 "issue": "issue", "rotation": "rotate", "cancel": "cancel", "fail": "fail",
                 "escalate": "escalate", "steps": "work", "notes": "note",
                 "hand-over": "hand_over", "reassign": "reassign",
                 "lost-device-review": "review_lost_device", "pressure": "pressure",
                 "release": "release_issue"}


def try_each(case, user, colleague) -> set[str]:
    """The decisions the workflow accepts from ``user`` on ``case`` now
    (a hand-over or reassignment to ``colleague``, an agent who may hold it)."""
    attempts = {
        "claim": lambda: workflow.claim(case, user),
        "unclaim": lambda: workflow.unclaim(case, user),
        "work": lambda: work_first_step(case, user),
        "fail": lambda: workflow.fail(case, user, "Could not prove it."),
        "escalate": lambda: workflow.escalate(case, user, "Cannot verify."),
        "request_approval": lambda: workflow.request_approval(case, user),
        "decide": lambda: workflow.approve(case, user, "Evidence agrees.",
                                           step_up=step_up_now()),
        "issue": lambda: workflow.issue_credential(case, user),
        "rotate": lambda: workflow.record_rotation(case, user, "CHG-42"),
        "cancel": lambda: workflow.cancel(case, user, "Duplicate."),
        "note": lambda: workflow.add_note(case, user, "Caller rings back at 3."),
        "hand_over": lambda: workflow.hand_over(case, user, colleague, "Over to you."),
        "reassign": lambda: workflow.reassign(case, user, colleague, "Balancing the queue."),
        "review_lost_device": lambda: workflow.review_lost_device(
            case, user, "Called back on the number on file.", step_up=step_up_now()),
        "pressure": lambda: workflow.answer_pressure_checklist(case, user, [],
                                                               none_observed=True),
        "release_issue": lambda: workflow.release_issue(case, user, "Checked the case.",
                                                        step_up=step_up_now()),
    }
    accepted = set()
    for name, attempt in attempts.items():
        with transaction.atomic():
            try:
                attempt()
            except workflow.WorkflowError:
                pass
            else:
                accepted.add(name)
            transaction.set_rollback(True)
    return accepted


def work_first_step(case, user):
    case.refresh_from_db()
    step = case.script.steps.order_by("position").first()
    if step.kind == ScriptStep.Kind.CHANNEL_CODE:
        return workflow.send_channel_code(case, user, step, usable_channel(case))
    if step.kind == ScriptStep.Kind.ATTESTATION:
        return workflow.request_attestation(case, user, step)
    return workflow.record_evidence(case, user, step, note="Answered.", document_type="passport",
                                    document_last4="X12Z")


def offered_on_page(client, case) -> set[str]:
    response = client.get(reverse("recovery:case", args=[case.pk]))
    if response.status_code == 404:
        return set()
    assert response.status_code == 200
    page = response.content.decode()
    found = {ACTION_OF_URL[m] for m in re.findall(
        rf'action="/cases/{case.pk}/([a-z-]+)/', page)}
    if f'href="/approvals/{case.pk}/"' in page:
        found.add("decide")
    return found


def claimable_in_queue(client) -> set[int]:
    page = client.get(reverse("recovery:queue"), {"status": "all"})
    if page.status_code != 200:
        return set()
    return {int(pk) for pk in re.findall(r'action="/cases/(\d+)/claim/"', page.content.decode())}


@pytest.fixture
def people():
    both = ("agent", "supervisor")
    return {
        "holder": staff("agent"), "other_agent": staff("agent"),
        "supervisor": staff("supervisor"), "gave_back": staff(*both),
        "approved_already": staff("supervisor"), "security_admin": staff("security_admin"),
        "auditor": staff("auditor"),
    }


def make_subject_staff(case):
    """The person being recovered is staff too: an agent and a supervisor."""
    user = case.identity.user
    user.groups.add(*[Group.objects.get_or_create(name=n)[0] for n in ("agent", "supervisor")])
    TOTPDeviceFactory(user=user)
    return user


def scenarios(people) -> dict[str, RecoveryCase]:
    holder, gave_back = people["holder"], people["gave_back"]

    def opened(tier="low", identity=None):
        if identity is None:
            case = recovery_case(tier)
        else:
            case = workflow.open_case(identity, source="desk", actor=staff("agent"))
        make_subject_staff(case)
        workflow.claim(case, gave_back)
        workflow.unclaim(case, gave_back)
        return case

    def held(case):
        workflow.claim(case, holder)
        case.refresh_from_db()
        return case

    def awaiting(case):
        verify(case, holder)
        workflow.request_approval(case, holder)
        return case

    def governance():
        account = reachable_identity(kind="service_account", data_sensitivity="high")
        return awaiting(held(opened(identity=account)))

    made = {"unclaimed": opened(), "verifying": held(opened())}
    made["escalated"] = held(opened())
    workflow.escalate(made["escalated"], holder, "Every channel is stale.")
    made["verified"] = verify(held(opened("high")), holder)
    made["awaiting"] = awaiting(held(opened("high")))
    made["half_approved"] = awaiting(held(opened("restricted")))
    workflow.approve(made["half_approved"], people["approved_already"], "Agrees.",
                     step_up=step_up_now())
    made["approved"] = verify(held(opened()), holder)
    made["issued"] = verify(held(opened()), holder)
    workflow.issue_credential(made["issued"], holder)
    made["lost_device"] = verify(held(opened()), holder)
    workflow.flag_lost_device(made["lost_device"], "The old phone signed in.", via="console")
    made["governance_awaiting"] = governance()
    made["governance_approved"] = governance()
    workflow.approve(made["governance_approved"], people["security_admin"], "Owner attested.",
                     step_up=step_up_now())
    # The holder is past the daily limit of the case's team: a supervisor releases it.
    made["past_daily_limit"] = verify(held(opened()), holder)
    made["cancelled"] = held(opened())
    workflow.cancel(made["cancelled"], holder, "Duplicate.")
    # Every case in one team's queue, and the agents in it (a team's case is
    # worked by its members only); that one in a team with a daily limit of 0.
    agents = [user for user in people.values() if user.groups.filter(name="agent").exists()]
    desk = Team.objects.create(name="Desk")
    tight = Team.objects.create(name="Tight desk", daily_limit=0)
    for team in (desk, tight):
        team.members.add(*agents)
    RecoveryCase.objects.filter(pk__in=[case.pk for case in made.values()]).update(team=desk)
    RecoveryCase.objects.filter(pk=made["past_daily_limit"].pk).update(team=tight)
    for case in made.values():
        case.refresh_from_db()
    return made


def test_every_action_offered_is_accepted_and_every_accepted_one_is_offered(people):
    cases = scenarios(people)
    # Fresh from the database: what the users held cached before the teams existed.
    people = {name: type(user).objects.get(pk=user.pk) for name, user in people.items()}
    assert {c.state for c in cases.values()} >= {
        "verifying", "verified", "awaiting_approval", "approved", "credential_issued",
        "cancelled"}
    clients = {name: sign_in_client(Client(), user) for name, user in people.items()}
    colleague = staff("agent")
    for team in Team.objects.all():  # whom a supervisor may reassign a team's case to
        team.members.add(colleague)
    mismatches, accepted_anything = [], set()
    for label, case in cases.items():
        subject = case.identity.user
        who = {**people, "subject": subject}
        who_clients = {**clients, "subject": sign_in_client(Client(), subject)}
        for name in PEOPLE:
            user, client = who[name], who_clients[name]
            offered = offered_on_page(client, case)
            accepted = try_each(case, user, colleague)
            accepted_anything |= accepted
            if offered != accepted:
                mismatches.append(f"{label} / {name}: offered {sorted(offered)}, "
                                  f"accepted {sorted(accepted)}")
            in_queue = case.pk in claimable_in_queue(client)
            if in_queue != ("claim" in accepted):
                mismatches.append(f"{label} / {name}: queue offers claim: {in_queue}")
            listed = selectors.pending_approvals(user).filter(pk=case.pk).exists()
            if listed != ("decide" in accepted):
                mismatches.append(f"{label} / {name}: approvals list: {listed}")
    assert not mismatches, "\n".join(mismatches)
    # The walk reached every decision at least once.
    assert accepted_anything == set(selectors.OFFERS)


def test_a_supervisor_who_claimed_and_gave_back_a_case_is_not_offered_to_decide_it(client):
    agent, both = staff("agent"), staff("agent", "supervisor")
    case = recovery_case("high")
    workflow.claim(case, both)
    workflow.unclaim(case, both)
    workflow.claim(case, agent)
    verify(case, agent)
    workflow.request_approval(case, agent)
    sign_in_client(client, both)
    page = client.get(reverse("recovery:case", args=[case.pk])).content.decode()
    assert "Approve or deny" not in page
    assert f"/approvals/{case.pk}/" not in client.get(reverse("recovery:approvals")) \
        .content.decode()
