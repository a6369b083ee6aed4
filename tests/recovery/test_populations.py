"""Contractors, partners, shared service accounts and privileged people
follow stricter rules, kept as data and explained on the case page."""

import re
from datetime import date, timedelta

import pytest
from auditlog.models import LogEntry
from django.test import Client
from django.urls import reverse

from recovery_console import workflow
from recovery_console.models import (
    Alert,
    CredentialRotation,
    Notice,
    PopulationRule,
    RecoveryCase,
)
from tests.factories import reachable_identity, staff
from tests.sessions import sign_in_client

from .support import approved, pass_code_step, resolve_self_service_requests, step_of, verify
from .test_watch import recover

pytestmark = pytest.mark.django_db
State = RecoveryCase.State


def refused(reason):
    return LogEntry.objects.filter(additional_data__reason=reason,
                                   additional_data__event__endswith="_refused")


def open_at_desk(client, identity, agent):
    sign_in_client(client, agent)
    return client.post(reverse("recovery:open_case"), {"directory_id": identity.directory_id})


def ask_self_service(identifier):
    """The request, then what the worker does with it."""
    response = Client().post(reverse("recovery:self_service"), {"identifier": identifier})
    resolve_self_service_requests()
    return response


def test_a_contractors_sponsor_attests_even_at_a_tier_without_attestation(client, agent):
    sponsor_user = staff("agent")  # any person with a channel; here also staff
    contractor = reachable_identity(kind="contractor",
                                    contract_ends_on=date.today() + timedelta(days=60))
    contractor.sponsor.user = sponsor_user
    contractor.sponsor.save()
    response = open_at_desk(client, contractor, agent)
    case = RecoveryCase.objects.get(identity=contractor)
    assert response.status_code == 302 and case.tier == "medium"
    assert case.script.steps.filter(kind="attestation", required=True).exists()
    page = client.get(reverse("recovery:case", args=[case.pk])).content.decode()
    assert "Contractors: their sponsor must attest at every tier" in page
    assert "Contractors: Contractors:" not in page  # the population is named once

    workflow.claim(case, agent)
    pass_code_step(case, agent)
    step = step_of(case, "attestation")
    client.post(reverse("recovery:step", args=[case.pk, step.pk]), {"action": "request"})
    notice = Notice.objects.get(event="recovery_attestation")
    assert notice.identity == contractor.sponsor
    assert "As sponsor of" in notice.body


def test_a_case_opened_before_notes_named_their_population_once_reads_the_same(client, agent):
    """Older cases froze "Contractors: Contractors: ..." in their snapshot; the
    page shows the note once, and a note that does not repeat itself as it is."""
    contractor = reachable_identity(kind="contractor",
                                    contract_ends_on=date.today() + timedelta(days=60))
    case = workflow.open_case(contractor, source="desk", actor=agent)
    case.policy_snapshot["population_notes"] = [
        "Contractors: Contractors: their sponsor must attest at every tier",
        "Partners: the partner's administrator confirms the person",
    ]
    case.save(update_fields=["policy_snapshot"])
    sign_in_client(client, agent)
    page = client.get(reverse("recovery:case", args=[case.pk])).content.decode()
    assert "Contractors: their sponsor must attest at every tier" in page
    assert "Contractors: Contractors:" not in page
    assert "Partners: the partner&#x27;s administrator confirms the person" in page


def test_the_sponsor_is_told_after_a_contractors_reset(agent, settings):
    settings.WEBAUTHN_ORIGINS = ["http://localhost:8000"]
    contractor = reachable_identity(kind="contractor",
                                    contract_ends_on=date.today() + timedelta(days=60))
    case = workflow.open_case(contractor, source="desk", actor=staff("agent"))
    workflow.claim(case, agent)
    recover(approved(case, agent), agent)
    told = Notice.objects.get(identity=contractor.sponsor, event="recovery_completed")
    assert f"{contractor.display_name}, whose sponsor you are" in told.subject


def test_a_contractor_past_their_end_date_cannot_be_recovered(client, agent):
    contractor = reachable_identity(kind="contractor", contract_ends_on=date(2026, 1, 31))
    response = open_at_desk(client, contractor, agent)
    assert response.status_code in (400, 409)
    assert "contract ended on 31 Jan 2026" in response.content.decode()
    assert not RecoveryCase.objects.filter(identity=contractor).exists()
    assert refused("contract_ended").count() == 1
    answer = ask_self_service(contractor.directory_id)
    assert answer.status_code == 200
    assert not RecoveryCase.objects.filter(identity=contractor).exists()
    assert refused("contract_ended").count() == 2


@pytest.mark.parametrize("kind", ["partner", "service_account"])
def test_partners_and_service_accounts_get_the_neutral_self_service_answer(kind):
    employee = reachable_identity()
    other = reachable_identity(kind=kind)
    normal = ask_self_service(employee.directory_id)
    blocked = ask_self_service(other.directory_id)
    strip = lambda r: re.sub(r'name="csrf-token" content="[^"]*"', "", r.content.decode())  # noqa: E731
    assert (blocked.status_code, strip(blocked)) == (normal.status_code, strip(normal))
    assert not RecoveryCase.objects.filter(identity=other).exists()
    assert refused("self_service_not_allowed").filter(object_pk=str(other.pk)).exists()


def test_a_partners_organisation_administrator_attests(client, agent):
    partner = reachable_identity(kind="partner", partner_organisation="Northwind")
    admin = reachable_identity(display_name="Pat Partner-Admin")
    partner.partner_admin = admin
    partner.save()
    response = open_at_desk(client, partner, agent)
    case = RecoveryCase.objects.get(identity=partner)
    assert response.status_code == 302
    workflow.claim(case, agent)
    pass_code_step(case, agent)
    workflow.request_attestation(case, agent, step_of(case, "attestation"))
    notice = Notice.objects.get(event="recovery_attestation")
    assert notice.identity == admin and "As partner administrator of" in notice.body
    assert notice.channel.identity == admin


def test_nobody_attests_for_themself(client, agent):
    contractor = reachable_identity(kind="contractor",
                                    contract_ends_on=date.today() + timedelta(days=60))
    contractor.sponsor = contractor
    contractor.save()
    case = workflow.open_case(contractor, source="desk", actor=staff("agent"))
    workflow.claim(case, agent)
    pass_code_step(case, agent)
    sign_in_client(client, agent)
    step = step_of(case, "attestation")
    response = client.post(reverse("recovery:step", args=[case.pk, step.pk]),
                           {"action": "request"})
    assert response.status_code == 403
    assert "nobody attests for themself" in response.content.decode()
    assert not case.attestations.exists()
    assert refused("self_attestation").count() == 1


@pytest.fixture
def governance_case(agent):
    owner = reachable_identity(display_name="Olu Owner")
    account = reachable_identity(kind="service_account", data_sensitivity="high")
    account.owner = owner
    account.save()
    case = workflow.open_case(account, source="desk", actor=staff("agent"))
    workflow.claim(case, agent)
    return verify(case, agent), owner


def test_a_service_account_is_a_governance_case_approved_by_a_security_admin(
        client, agent, governance_case):
    case, owner = governance_case
    assert case.tier == "restricted"
    assert [s.kind for s in case.script.steps.all()] == ["attestation", "callback"]
    assert Notice.objects.get(event="recovery_attestation").identity == owner
    workflow.request_approval(case, agent)

    supervisor = sign_in_client(Client(), staff("supervisor"))
    response = supervisor.post(reverse("recovery:decide", args=[case.pk]),
                               {"decision": "approve", "reason": "Looks fine."})
    assert response.status_code in (403, 404)
    admin = sign_in_client(Client(), staff("security_admin"))
    listing = admin.get(reverse("recovery:approvals")).content.decode()
    assert case.identity.display_name in listing
    response = admin.post(reverse("recovery:decide", args=[case.pk]),
                          {"decision": "approve", "reason": "Owner confirmed; ticket CHG-1."})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.state == State.APPROVED

    sign_in_client(client, agent)
    issue = client.post(reverse("recovery:issue", args=[case.pk]), {})
    assert issue.status_code in (400, 409)
    assert not case.credentials.exists()
    response = client.post(reverse("recovery:rotation", args=[case.pk]),
                           {"reference": "CHG-1234", "note": "Rotated in the vault."})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.state == State.COMPLETED
    assert CredentialRotation.objects.get(case=case).reference == "CHG-1234"
    assert Notice.objects.filter(identity=owner, event="recovery_rotated").exists()


def test_the_owner_never_approves_their_own_service_accounts_rotation(agent, governance_case):
    case, owner = governance_case
    owner_admin = staff("security_admin")
    owner.user = owner_admin
    owner.save()
    workflow.request_approval(case, agent)
    client = sign_in_client(Client(), owner_admin)
    response = client.post(reverse("recovery:decide", args=[case.pk]),
                           {"decision": "approve", "reason": "It is mine."})
    assert response.status_code == 403
    assert "another security admin must approve" in response.content.decode()
    assert refused("owner_approval").count() == 1
    case.refresh_from_db()
    assert case.state == State.AWAITING_APPROVAL
    assert not case.approvals.exists()
    # Nor is it counted as waiting for them; another security admin sees it waiting.
    waiting = 'aria-label="Approvals, 1 waiting"'
    assert waiting not in client.get(reverse("recovery:approvals")).content.decode()
    colleague = sign_in_client(Client(), staff("security_admin"))
    assert waiting in colleague.get(reverse("recovery:approvals")).content.decode()


def test_privileged_people_need_two_approvers_and_the_shortest_credential(agent):
    boss = reachable_identity(privileged=True)
    case = workflow.open_case(boss, source="desk", actor=staff("agent"))
    assert case.tier in ("high", "restricted")
    assert case.rules.approvals_required == 2
    assert case.rules.credential_lifetime == timedelta(minutes=10)
    workflow.claim(case, agent)
    case = approved(case, agent, staff("supervisor"), staff("supervisor"))
    issued = workflow.issue_credential(case, agent)
    assert issued.credential.expires_at - issued.credential.created_at == timedelta(minutes=10)


def test_repeated_recoveries_within_30_days_raise_the_tier_and_an_alert(agent):
    traveller = reachable_identity(traveller=True)
    first = workflow.open_case(traveller, source="desk", actor=staff("agent"))
    workflow.cancel(first, staff("supervisor"), "Found the key.")
    second = workflow.open_case(traveller, source="desk", actor=staff("agent"))
    assert (first.tier, second.tier) == ("low", "medium")
    alert = Alert.objects.get(kind=Alert.Kind.REPEATED_RECOVERY)
    assert "frequent traveller" in alert.detail and alert.case == second


def test_the_rules_are_data_security_admins_can_tighten(agent):
    PopulationRule.objects.filter(population="employee").update(minimum_tier="high")
    case = workflow.open_case(reachable_identity(), source="desk", actor=staff("agent"))
    assert case.tier == "high"
    assert "Population rules: at least high." in case.tier_reasons


def test_each_rule_note_names_its_population_once(agent):
    PopulationRule.objects.filter(population="privileged").update(
        explanation="Call the person's manager before issuing.")
    case = workflow.open_case(reachable_identity(privileged=True), source="desk",
                              actor=staff("agent"))
    assert case.rules.population_notes == (
        "Employees follow the policy of their risk tier.",
        "Privileged people (administrators, executives): Call the person's manager before "
        "issuing.")


def test_a_security_admin_edits_population_rules_in_the_admin(client):
    from django_otp import DEVICE_ID_SESSION_KEY

    admin = staff("security_admin", is_staff=True)
    client.force_login(admin)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = admin.totpdevice_set.get().persistent_id
    session.save()
    rule = PopulationRule.objects.get(population="contractor")
    assert client.get(reverse("admin:recovery_populationrule_change",
                              args=[rule.pk])).status_code == 200


def test_a_change_to_a_population_rule_in_the_admin_is_audited_with_its_author(client):
    from django_otp import DEVICE_ID_SESSION_KEY

    admin = staff("security_admin", is_staff=True)
    client.force_login(admin)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = admin.totpdevice_set.get().persistent_id
    session.save()
    rule = PopulationRule.objects.get(population="contractor")
    response = client.post(reverse("admin:recovery_populationrule_change", args=[rule.pk]), {
        "population": rule.population, "minimum_tier": "high",
        "self_service_allowed": "", "attestation_required": "on" if rule.attestation_required
        else "", "script": "", "approvals_min": rule.approvals_min,
        "approver_role": rule.approver_role, "credential_lifetime_max": "",
        "path": rule.path, "explanation": rule.explanation})
    assert response.status_code == 302, response.content.decode()[:2000]
    rule.refresh_from_db()
    assert rule.minimum_tier == "high"
    entry = LogEntry.objects.get_for_object(rule).latest("timestamp")
    assert entry.actor == admin and entry.changes_dict["minimum_tier"][1] == "high"
