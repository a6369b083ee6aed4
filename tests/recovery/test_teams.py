"""Scoped help desks: an outsourced first line never sees a
privileged person's case; a case goes to the first team that serves every
population of the person up to its tier, moves on when an escalation takes
it past its team, and its holder outside the new team loses it; supervisors
see every team's cases; a spike of privileged cases for one team alerts once
an hour; security admins keep the teams in the admin."""

from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import get_perms

from recovery_console import clock, workflow
from recovery_console.models import Alert, RecoveryCase, Team
from tests.admin_forms import form_data
from tests.factories import reachable_identity, staff
from tests.sessions import sign_in_client

from .support import events, refusals

pytestmark = pytest.mark.django_db
QUEUE = reverse("recovery:queue")
EVERY_POPULATION = ["employee", "contractor", "partner", "service_account", "privileged"]


@pytest.fixture
def desks():
    """An outsourced first line (employees and contractors up to medium,
    escalating to the internal desk) and the internal service desk (every
    population, every tier), an agent in each."""
    internal = Team.objects.create(name="Internal service desk", serves=EVERY_POPULATION,
                                   highest_tier="restricted", routing_order=20)
    first = Team.objects.create(name="First line (outsourced)", serves=["employee", "contractor"],
                                highest_tier="medium", escalates_to=internal, routing_order=10)
    outsourced = staff("agent", first_name="Olu", last_name="Outsourced")
    insider = staff("agent", first_name="Ines", last_name="Internal")
    first.members.add(outsourced)
    internal.members.add(insider)
    return {"first": first, "internal": internal, "outsourced": outsourced, "insider": insider}


def opened(identity, by=None) -> RecoveryCase:
    return workflow.open_case(identity, source=RecoveryCase.Source.DESK, actor=by or staff("agent"))


def privileged_case() -> RecoveryCase:
    return opened(reachable_identity(display_name="Priya Privileged", privileged=True))


def as_client(client, user):
    return sign_in_client(client, user)


# --- routing -------------------------------------------------------------------

def test_a_case_goes_to_the_first_team_serving_every_population_of_the_person_up_to_its_tier(
        desks):
    assert opened(reachable_identity()).team == desks["first"]
    assert opened(reachable_identity(kind="contractor")).team == desks["first"]
    assert opened(reachable_identity(data_sensitivity="medium")).team == desks["first"]
    # Past the first line's highest tier, or a population it does not serve.
    assert opened(reachable_identity(data_sensitivity="high")).team == desks["internal"]
    assert opened(reachable_identity(kind="partner")).team == desks["internal"]
    privileged = privileged_case()
    assert privileged.team == desks["internal"]
    entry = events("case_opened").get(object_pk=str(privileged.pk))
    assert entry.additional_data["team_name"] == "Internal service desk"


def test_a_case_no_team_serves_goes_to_the_consoles_own_desk(desks):
    desks["internal"].serves = ["employee"]
    desks["internal"].save()
    case = privileged_case()
    assert case.team is None
    desk_agent = staff("agent")  # in no team: the console's own desk
    assert workflow.may_claim(case, desk_agent) is None
    assert workflow.may_claim(case, desks["insider"]).reason == "outside_team"


# --- an outsourced agent never sees a privileged person ----------------------------

CASE_ACTIONS = ["claim", "unclaim", "fail", "escalate", "cancel", "add_note", "hand_over",
                "request_approval", "issue", "rotation", "case_watch"]


def test_an_outsourced_agent_gets_404_on_a_privileged_persons_case_and_every_action(
        client, desks):
    case = privileged_case()
    before = (RecoveryCase.objects.filter(pk=case.pk).values().get(),
              LogEntry.objects.count())
    as_client(client, desks["outsourced"])
    assert client.get(reverse("recovery:case", args=[case.pk])).status_code == 404
    assert client.get(reverse("recovery:case_watch", args=[case.pk])).status_code == 404
    for action in CASE_ACTIONS:
        response = client.post(reverse(f"recovery:{action}", args=[case.pk]),
                               {"reason": "Urgent, the CEO says so.", "note": "Take it.",
                                "to": desks["outsourced"].pk})
        assert response.status_code in (404, 405), action
        assert response.status_code == 404 or action == "case_watch", action
    # Nothing changed (a page lookup outside the scope decides nothing, so audits nothing).
    assert (RecoveryCase.objects.filter(pk=case.pk).values().get(),
            LogEntry.objects.count()) == before
    # The insider sees it and claims it.
    as_client(client, desks["insider"])
    assert client.get(reverse("recovery:case", args=[case.pk])).status_code == 200
    assert client.post(reverse("recovery:claim", args=[case.pk])).status_code == 302
    case.refresh_from_db()
    assert case.agent == desks["insider"]


def test_claiming_outside_the_team_is_refused_and_audited(desks):
    case = privileged_case()
    with pytest.raises(workflow.WorkflowError) as refused:
        workflow.claim(case, desks["outsourced"])
    assert (refused.value.reason, refused.value.status) == ("outside_team", 404)
    case.refresh_from_db()
    assert case.agent is None and case.state == RecoveryCase.State.NEW
    entry = refusals("case_claim", "outside_team").get()
    assert entry.actor == desks["outsourced"] and entry.object_pk == str(case.pk)


def test_the_outsourced_queue_never_lists_a_privileged_person_not_even_as_held_by(
        client, desks):
    mine = opened(reachable_identity(display_name="Erin Employee"))
    held = privileged_case()
    workflow.claim(held, desks["insider"])
    unheld = opened(reachable_identity(display_name="Paul Partner", kind="partner"))
    as_client(client, desks["outsourced"])
    for status in ("open", "all"):
        page = client.get(QUEUE, {"status": status}).content.decode()
        assert "Erin Employee" in page
        assert "Priya Privileged" not in page and "Paul Partner" not in page
    as_client(client, desks["insider"])
    page = client.get(QUEUE).content.decode()
    assert "Priya Privileged" in page and "Paul Partner" in page
    assert "Erin Employee" not in page
    assert {mine.team, held.team, unheld.team} == {desks["first"], desks["internal"]}


def test_an_outsourced_agent_cannot_find_a_privileged_person_by_any_search(client, desks):
    case = privileged_case()
    identity = case.identity
    email = identity.channels.get(kind="email").address
    phone = identity.channels.get(kind="phone").address
    searches = ["Priya", "Privileged", identity.directory_id, email, phone, f"#{case.pk}",
                str(case.pk), identity.user.email]
    as_client(client, desks["outsourced"])
    for text in searches:
        for status in ("open", "all"):
            page = client.get(QUEUE, {"q": text, "status": status})
            assert page.status_code == 200, text
            assert case.pk not in [c.pk for c in page.context["cases"]], text
    as_client(client, desks["insider"])
    for text in searches:
        assert case.pk in [c.pk for c in client.get(QUEUE, {"q": text}).context["cases"]], text


def test_an_agent_in_no_team_sees_only_the_consoles_own_desk(client, desks):
    routed = privileged_case()
    desks["internal"].serves = ["employee"]
    desks["internal"].save()
    desk_case = opened(reachable_identity(display_name="Dana Desk", kind="partner"))
    assert desk_case.team is None
    desk_agent = staff("agent")
    as_client(client, desk_agent)
    assert client.get(reverse("recovery:case", args=[routed.pk])).status_code == 404
    assert client.get(reverse("recovery:case", args=[desk_case.pk])).status_code == 200
    assert [c.pk for c in client.get(QUEUE).context["cases"]] == [desk_case.pk]


def test_supervisors_auditors_and_security_admins_see_every_teams_cases(client, desks):
    cases = [privileged_case(), opened(reachable_identity())]
    for role in ("supervisor", "auditor", "security_admin"):
        as_client(client, staff(role, is_staff=role == "security_admin"))
        for case in cases:
            assert client.get(reverse("recovery:case", args=[case.pk])).status_code == 200, role
    as_client(client, staff("supervisor"))
    assert {c.pk for c in client.get(QUEUE).context["cases"]} == {c.pk for c in cases}


# --- escalation moves the case -------------------------------------------------------

def test_an_escalation_past_the_first_line_moves_the_case_and_its_holder_loses_it(
        client, desks):
    case = opened(reachable_identity(display_name="Erin Employee"))
    assert (case.tier, case.team) == ("low", desks["first"])
    as_client(client, desks["outsourced"])
    assert client.post(reverse("recovery:claim", args=[case.pk])).status_code == 302
    response = client.post(reverse("recovery:escalate", args=[case.pk]),
                           {"reason": "The caller cannot receive the code."})
    assert response.status_code == 302 and response["Location"] == QUEUE
    case.refresh_from_db()
    assert (case.tier, case.team, case.agent) == ("high", desks["internal"], None)
    assert "work_recoverycase" not in get_perms(desks["outsourced"], case)
    routed = events("case_routed").get(object_pk=str(case.pk))
    assert routed.actor == desks["outsourced"]
    assert {k: routed.additional_data[k] for k in ("from", "to", "why", "released")} == {
        "from": desks["first"].pk, "to": desks["internal"].pk, "why": "escalated",
        "released": desks["outsourced"].pk}
    # The old holder no longer sees it; the insider does, and may claim it.
    assert client.get(reverse("recovery:case", args=[case.pk])).status_code == 404
    assert "Erin Employee" not in client.get(QUEUE).content.decode()
    as_client(client, desks["insider"])
    assert client.post(reverse("recovery:claim", args=[case.pk])).status_code == 302
    # The timeline says it in words.
    as_client(client, staff("supervisor"))
    page = client.get(reverse("recovery:case", args=[case.pk])).content.decode()
    assert ("Moved from First line (outsourced) to Internal service desk at its stricter tier"
            in page)
    assert "Olu Outsourced is not in Internal service desk, so no longer holds it" in page


def test_an_escalation_the_team_still_serves_leaves_the_case_and_its_holder(desks):
    case = opened(reachable_identity(kind="partner"))
    workflow.claim(case, desks["insider"])
    workflow.escalate(case, desks["insider"], "Cannot reach the caller.")
    case.refresh_from_db()
    assert (case.team, case.agent) == (desks["internal"], desks["insider"])
    assert not events("case_routed").exists()


def test_reroute_goes_to_the_first_serving_team_when_the_escalation_target_does_not_serve(
        desks):
    partners = Team.objects.create(name="Partner desk", serves=["employee", "partner"],
                                   highest_tier="restricted", routing_order=5)
    desks["first"].escalates_to = partners
    desks["first"].save()
    case = opened(reachable_identity(kind="contractor"))
    assert case.team == desks["first"]  # the partner desk does not serve contractors
    workflow.claim(case, desks["outsourced"])
    desks["first"].members.add(desks["insider"])
    desks["internal"].members.add(desks["outsourced"])
    workflow.escalate(case, staff_holding(case), "Caller cannot be verified.")
    case.refresh_from_db()
    # Partner desk serves no contractor: the first team that does (internal).
    assert case.team == desks["internal"]
    assert case.agent == desks["outsourced"]  # also in the internal desk: keeps it
    assert events("case_routed").get().additional_data["released"] is None


def staff_holding(case):
    case.refresh_from_db()
    return type(case.agent).objects.get(pk=case.agent_id)


# --- hand-over and reassignment stay within the team -----------------------------------

def test_a_case_is_handed_over_or_reassigned_only_to_agents_who_may_see_it(client, desks):
    case = privileged_case()
    workflow.claim(case, desks["insider"])
    colleague = staff("agent", first_name="Ian", last_name="Insider")
    desks["internal"].members.add(colleague)
    as_client(client, desks["insider"])
    page = client.get(reverse("recovery:case", args=[case.pk]))
    offered = [value for value, _ in page.context["hand_over_form"].fields["to"].widget.choices]
    assert colleague.pk in offered and desks["outsourced"].pk not in offered
    response = client.post(reverse("recovery:hand_over", args=[case.pk]),
                           {"to": desks["outsourced"].pk, "note": "Yours."})
    assert response.status_code == 400
    assert "routed to the team Internal service desk" in response.content.decode()
    assert refusals("case_hand_over", "target_outside_team").get().actor == desks["insider"]
    supervisor = staff("supervisor")
    as_client(client, supervisor)
    response = client.post(reverse("recovery:reassign", args=[case.pk]),
                           {"to": desks["outsourced"].pk, "note": "Take this one."})
    assert response.status_code == 400
    assert refusals("case_reassign", "target_outside_team").get().actor == supervisor
    case.refresh_from_db()
    assert case.agent == desks["insider"]  # nothing moved
    assert client.post(reverse("recovery:reassign", args=[case.pk]),
                       {"to": colleague.pk, "note": "Over to you."}).status_code == 302
    case.refresh_from_db()
    assert case.agent == colleague


# --- the privileged spike --------------------------------------------------------------

def test_a_spike_of_privileged_cases_for_a_team_alerts_once_an_hour(desks, monkeypatch):
    desks["internal"].privileged_per_hour = 2
    desks["internal"].save()
    start = timezone.now()
    monkeypatch.setattr(clock, "now", lambda: start)
    opened(reachable_identity(kind="partner"))  # not privileged: not counted
    privileged_case()
    assert not Alert.objects.filter(kind=Alert.Kind.PRIVILEGED_SPIKE).exists()
    second = privileged_case()
    third = privileged_case()
    alert = Alert.objects.get(kind=Alert.Kind.PRIVILEGED_SPIKE)
    assert alert.case == second and "Internal service desk" in alert.detail
    assert events("alert_raised").filter(additional_data__kind="privileged_spike").count() == 1
    assert third.team == desks["internal"]
    monkeypatch.setattr(clock, "now", lambda: start + timedelta(minutes=30))
    privileged_case()  # four in the hour: the hour's alert stands for them all
    assert Alert.objects.filter(kind=Alert.Kind.PRIVILEGED_SPIKE).count() == 1
    monkeypatch.setattr(clock, "now", lambda: start + timedelta(minutes=80))
    privileged_case()  # with the one of +30, two in the hour; the alert of +0 is older
    assert Alert.objects.filter(kind=Alert.Kind.PRIVILEGED_SPIKE).count() == 2


def test_the_spike_counts_per_team_and_zero_turns_it_off(desks, settings):
    settings.RECOVERY_DESK_PRIVILEGED_PER_HOUR = 0
    desks["internal"].privileged_per_hour = 0
    desks["internal"].save()
    for _ in range(4):
        privileged_case()
    assert not Alert.objects.filter(kind=Alert.Kind.PRIVILEGED_SPIKE).exists()


def test_the_consoles_own_desk_has_its_spike_alert_too(settings):
    settings.RECOVERY_DESK_PRIVILEGED_PER_HOUR = 2
    privileged_case()
    case = privileged_case()
    alert = Alert.objects.get(kind=Alert.Kind.PRIVILEGED_SPIKE)
    assert alert.case == case and "the console's own desk" in alert.detail


# --- the admin -------------------------------------------------------------------------

ADD = reverse("admin:recovery_team_add")


def team_form(**changes) -> dict:
    return {"name": "Night shift", "serves": ["employee"], "highest_tier": "medium",
            "routing_order": 30, "hourly_norm": 6, "daily_norm": 30, "daily_limit": 50,
            "privileged_per_hour": 3, **changes}


def test_a_security_admin_keeps_teams_in_the_admin_audited(client, desks):
    admin = staff("security_admin", is_staff=True)
    as_client(client, admin)
    page = client.get(ADD)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'type="checkbox" name="serves" value="privileged"' in html
    assert str(desks["outsourced"]) in html or "Olu Outsourced" in html
    supervisor = staff("supervisor", first_name="Sue", last_name="Pervisor")
    assert "Sue Pervisor" not in html and "Sue" not in html  # members: agents only
    response = client.post(ADD, team_form(members=[desks["outsourced"].pk],
                                          escalates_to=desks["internal"].pk))
    assert response.status_code == 302, response.content.decode()[:2000]
    team = Team.objects.get(name="Night shift")
    assert (team.serves, list(team.members.all())) == (["employee"], [desks["outsourced"]])
    created = LogEntry.objects.get(content_type=ContentType.objects.get_for_model(Team),
                                   object_pk=str(team.pk), action=LogEntry.Action.CREATE)
    assert created.actor == admin
    assert LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(Team),
                                   object_pk=str(team.pk)).count() >= 2  # and its members
    # A supervisor is not an agent: refused as a member, nothing changed.
    response = client.post(ADD, team_form(name="Other", members=[supervisor.pk]))
    assert response.status_code == 200 and not Team.objects.filter(name="Other").exists()


@pytest.mark.parametrize("changes, error", [
    ({"serves": ["employee", "astronauts"]}, "astronauts is not one of the available choices"),
    ({"highest_tier": "extreme"}, "extreme is not one of the available choices"),
])
def test_the_admin_refuses_an_unknown_population_or_tier(client, changes, error):
    as_client(client, staff("security_admin", is_staff=True))
    response = client.post(ADD, team_form(**changes))
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Team.objects.filter(name="Night shift").exists()


def test_the_admin_refuses_a_team_escalating_to_itself_or_round_in_a_circle(client, desks):
    as_client(client, staff("security_admin", is_staff=True))
    internal = desks["internal"]
    url = reverse("admin:recovery_team_change", args=[internal.pk])
    data = {**form_data(client.get(url)), "_save": "Save"}
    response = client.post(url, {**data, "escalates_to": internal.pk})
    assert "A team cannot escalate to itself" in response.content.decode()
    response = client.post(url, {**data, "escalates_to": desks["first"].pk})
    assert "leads back to this team" in response.content.decode()
    internal.refresh_from_db()
    assert internal.escalates_to is None
    assert client.post(url, {**data, "routing_order": 21}).status_code == 302


def test_agents_and_supervisors_cannot_open_the_team_admin(client):
    for role in ("agent", "supervisor"):
        as_client(client, staff(role, is_staff=True))
        assert client.get(ADD).status_code in (302, 403)


# --- the queue's query count ------------------------------------------------------------

def test_the_queue_query_count_of_an_agent_in_a_team_stays_the_same(
        client, django_assert_max_num_queries, desks):
    as_client(client, desks["outsourced"])
    for _ in range(2):
        opened(reachable_identity())
    privileged_case()
    # The same budget as an agent in no team (test_queue.py).
    with django_assert_max_num_queries(12) as few:
        assert client.get(QUEUE).status_code == 200
    for _ in range(4):
        case = opened(reachable_identity())
        workflow.claim(case, desks["outsourced"])
        privileged_case()
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(QUEUE)
    assert len(page.context["cases"]) == 6


def test_an_outsourced_agent_opening_a_privileged_persons_case_is_sent_back_to_the_queue(
        client, desks):
    identity = reachable_identity(display_name="Priya Privileged", privileged=True)
    as_client(client, desks["outsourced"])
    response = client.post(reverse("recovery:open_case"),
                           {"directory_id": identity.directory_id}, follow=True)
    case = RecoveryCase.objects.get(identity=identity)
    assert (case.team, case.opened_by) == (desks["internal"], desks["outsourced"])
    assert response.redirect_chain[-1][0] == QUEUE
    page = response.content.decode()
    assert f"Case {case.pk} is opened and waits in the queue of Internal service desk" in page
    assert "Priya Privileged" not in page
