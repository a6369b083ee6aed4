"""The pressure checklist through HTTP: the script ends
with social-engineering signs the agent answers before the case can be
verified; any tick raises the tier one step and requires a supervisor's
approval even for low and medium, and is evidence on the case page, the
approval page, the timeline and the audit entry."""

import pytest
from django.test import Client
from django.urls import reverse

from recovery_console import workflow
from recovery_console.models import PressureAnswer, PressureSign, RecoveryCase
from tests.factories import recovery_case, staff
from tests.sessions import sign_in_client

from .support import events, pass_code_step, refusals, step_up_now, verify

pytestmark = pytest.mark.django_db

SIGNS = {"urgency", "claimed_seniority", "refused_callback", "unreachable_on_file",
         "background_coaching"}


@pytest.fixture
def agent():
    return staff("agent")


@pytest.fixture
def agent_client(client, agent):
    return sign_in_client(client, agent)


def answer(client, case, **data):
    return client.post(reverse("recovery:pressure_checklist", args=[case.pk]), data)


def case_page(client, case) -> str:
    return client.get(reverse("recovery:case", args=[case.pk])).content.decode()


def test_the_checklist_is_seeded_with_the_advisories_signs():
    assert set(PressureSign.objects.filter(active=True).values_list("code", flat=True)) == SIGNS


def test_the_script_ends_with_the_checklist_and_the_case_waits_for_it(agent_client, agent):
    case = recovery_case("low", agent=agent, pressure=False)
    page = case_page(agent_client, case)
    assert 'id="pressure-checklist"' in page
    assert "Background coaching" in page and "None observed" in page
    pass_code_step(case, agent)
    case.refresh_from_db()
    assert case.state == "verifying"  # every step passed, the checklist is not answered
    with pytest.raises(workflow.WorkflowError) as refused:
        workflow.mark_verified(case, agent)
    assert refused.value.reason == "checklist_missing"
    assert refusals("case_verify", "checklist_missing").get().actor == agent
    response = answer(agent_client, case, none_observed="on", note="Calm, patient caller.")
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.state == "approved" and case.tier == "low"  # low: approved by policy
    entry = events("pressure_checklist_answered").get()
    assert entry.actor == agent and entry.additional_data["signs"] == []
    page = case_page(agent_client, case)
    assert "None observed, answered by" in page and "Calm, patient caller." in page
    assert "Pressure checklist answered: no sign of social engineering observed" in page


def test_a_tick_raises_the_tier_and_requires_a_supervisor(client, agent_client, agent):
    case = recovery_case("low", agent=agent, pressure=False)
    response = answer(agent_client, case, signs=["urgency", "claimed_seniority"],
                      note="Said the CEO is waiting.")
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.tier == "medium"
    assert case.rules.approvals_required == 1  # medium needs none by its policy
    assert case.policy.tier == "medium"
    assert any("Pressure signs observed" in r for r in case.tier_reasons)
    saved = PressureAnswer.objects.get(case=case)
    assert [s["code"] for s in saved.signs] == ["urgency", "claimed_seniority"]
    entry = events("pressure_checklist_answered").get()
    assert entry.additional_data["signs"] == ["urgency", "claimed_seniority"]
    assert entry.additional_data["from_tier"] == "low"
    assert entry.additional_data["to_tier"] == "medium"
    verify(case, agent)  # the medium tier's script now
    assert case.state == "verified"  # not approved by policy
    with pytest.raises(workflow.WorkflowError):
        workflow.issue_credential(case, agent)
    workflow.request_approval(case, agent)
    supervisor = staff("supervisor")
    boss = sign_in_client(Client(), supervisor)
    decide = boss.get(reverse("recovery:decide", args=[case.pk])).content.decode()
    assert "Signs of social engineering observed" in decide
    assert "Urgency: the caller pushes" in decide and "Said the CEO is waiting." in decide
    page = case_page(agent_client, case)
    assert "Pressure signs observed: Urgency" in page  # the timeline
    assert "tier raised from Low to Medium" in page
    response = boss.post(reverse("recovery:decide", args=[case.pk]),
                         {"decision": "approve", "reason": "Called back on file; fine."})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.state == "approved"


def test_a_tick_on_a_restricted_case_keeps_it_restricted_and_approved_by_supervisors(agent):
    case = recovery_case("restricted", agent=agent, pressure=False)
    workflow.answer_pressure_checklist(case, agent, ["background_coaching"])
    case.refresh_from_db()
    assert case.tier == "restricted" and case.rules.approvals_required == 2


@pytest.mark.parametrize("data, reason", [
    ({}, "checklist_choice"),
    ({"none_observed": "on", "signs": ["urgency"]}, "checklist_choice"),
])
def test_neither_or_both_is_refused_and_nothing_changes(agent_client, agent, data, reason):
    case = recovery_case("low", agent=agent, pressure=False)
    response = answer(agent_client, case, **data)
    assert response.status_code == 400
    assert "Tick the signs you observed, or “none observed” (not both)." in \
        response.content.decode()
    assert refusals("pressure_checklist", reason).get().actor == agent
    assert not PressureAnswer.objects.exists()
    case.refresh_from_db()
    assert case.tier == "low"


def test_an_unknown_or_inactive_sign_is_refused(agent_client, agent):
    case = recovery_case("low", agent=agent, pressure=False)
    assert answer(agent_client, case, signs=["made_up"]).status_code == 400
    PressureSign.objects.filter(code="urgency").update(active=False)
    with pytest.raises(workflow.WorkflowError) as refused:
        workflow.answer_pressure_checklist(case, agent, ["urgency"])
    assert refused.value.reason == "unknown_sign"
    assert not PressureAnswer.objects.exists()


def test_the_checklist_is_answered_once_and_only_by_the_holding_agent(agent_client, agent):
    case = recovery_case("low", agent=agent, pressure=False)
    other = sign_in_client(Client(), staff("agent"))
    assert answer(other, case, none_observed="on").status_code == 404
    supervisor = sign_in_client(Client(), staff("supervisor"))
    assert answer(supervisor, case, none_observed="on").status_code == 403
    assert answer(agent_client, case, none_observed="on").status_code == 302
    response = answer(agent_client, case, signs=["urgency"])
    assert response.status_code == 409
    assert refusals("pressure_checklist", "checklist_answered").exists()
    case.refresh_from_db()
    assert case.tier == "low" and PressureAnswer.objects.count() == 1


def test_no_active_sign_means_no_checklist(agent):
    PressureSign.objects.update(active=False)
    case = recovery_case("low", agent=agent, pressure=False)
    pass_code_step(case, agent)
    case.refresh_from_db()
    assert case.state == "approved"


def test_security_admins_edit_the_signs_in_the_admin():
    admin = sign_in_client(Client(), staff("security_admin", is_staff=True))
    sign = PressureSign.objects.get(code="urgency")
    assert admin.get(reverse("admin:recovery_pressuresign_changelist")).status_code == 200
    assert admin.get(reverse("admin:recovery_pressuresign_change",
                             args=[sign.pk])).status_code == 200
    assert admin.get(reverse("admin:recovery_pressuresign_delete",
                             args=[sign.pk])).status_code == 403


def test_pressure_signs_are_told_to_security_monitoring(agent):
    from recovery_console.models import Notice

    case = recovery_case("low", agent=agent, pressure=False)
    workflow.answer_pressure_checklist(case, agent, ["refused_callback"])
    notice = Notice.objects.get(event="recovery_pressure_signs")
    assert "Refusal of a callback" in notice.body


def test_an_approval_on_a_ticked_medium_case_needs_a_distinct_supervisor(agent):
    case = recovery_case("medium", agent=agent, pressure=False)
    workflow.answer_pressure_checklist(case, agent, ["urgency"])
    case.refresh_from_db()
    assert case.tier == "high" and case.rules.approvals_required >= 1
    assert RecoveryCase.objects.get(pk=case.pk).state == "verifying"
    with pytest.raises(workflow.WorkflowError):
        workflow.approve(case, agent, "Mine.", step_up=step_up_now())
