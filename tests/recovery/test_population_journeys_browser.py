"""Population journeys in headless Chromium: a contractor recovered with
their sponsor's attestation, and a shared service account's governance case
ending in a credential rotation approved by a security admin."""

from datetime import date, timedelta

import pytest

from recovery_console import workflow
from recovery_console.models import CredentialRotation, RecoveryCase
from tests.conftest import VirtualAuthenticator
from tests.factories import reachable_identity, staff

from .test_journeys_browser import (
    attest,
    check_code_on_phone,
    no_pressure_signs,
    redeem_and_enrol,
    shot,
    sign_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("recovery_reference_data")]




def test_contractor_recovery_with_the_sponsors_attestation(page, new_page, dev_outbox):
    agent = staff("agent")
    contractor = reachable_identity(kind="contractor",
                                    contract_ends_on=date.today() + timedelta(days=90))
    case = workflow.open_case(contractor, source="desk", actor=staff("agent"))
    phone = contractor.channels.get(kind="phone")

    sign_in(page, agent)
    page.get_by_role("button", name=f"Claim case {case.pk}").click()
    page.get_by_role("heading", name=f"Case #{case.pk}").wait_for()
    page.get_by_text("Contractors: their sponsor must attest at every tier").wait_for()
    no_pressure_signs(page, case)
    check_code_on_phone(page, case, phone)
    page.get_by_role("button", name="Send attestation link").click()
    shot(page, "contractor-case")

    sponsor = new_page()
    attest(sponsor)

    page.goto(f"/cases/{case.pk}/")
    page.get_by_label("Deliver to").select_option(label=str(phone))
    page.get_by_role("button", name="Issue credential").click()
    page.get_by_role("heading", name="Recovery credential issued").wait_for()

    person = new_page()
    VirtualAuthenticator(person)
    redeem_and_enrol(person, case)
    case.refresh_from_db()
    assert case.state == RecoveryCase.State.COMPLETED
    sponsor.goto("/outbox/")
    assert f"{contractor.display_name}, whose sponsor you are" in sponsor.inner_text("main")


def test_service_account_rotation_with_owner_and_security_admin_approval(
        page, new_page, dev_outbox):
    agent, security_admin = staff("agent"), staff("security_admin")
    owner = reachable_identity(display_name="Olu Owner")
    account = reachable_identity(kind="service_account", data_sensitivity="high")
    account.owner = owner
    account.save()
    case = workflow.open_case(account, source="desk", actor=staff("agent"))

    sign_in(page, agent)
    page.get_by_role("button", name=f"Claim case {case.pk}").click()
    page.get_by_role("heading", name=f"Case #{case.pk}").wait_for()
    page.get_by_text("Shared service accounts are never recovered").wait_for()
    no_pressure_signs(page, case)
    page.get_by_role("button", name="Send attestation link").click()

    owner_page = new_page()
    attest(owner_page)

    page.goto(f"/cases/{case.pk}/")
    page.get_by_label("Who answered, what they confirmed").fill(
        "The owner answered on the directory number and confirmed CHG-42.")
    page.get_by_role("button", name="Record callback").click()
    page.get_by_role("button", name="Ask a security admin for approval").click()

    admin = new_page()
    sign_in(admin, security_admin, lands_on="Recovery watch alerts")
    admin.get_by_role("link", name="Approvals").click()
    admin.get_by_role("link", name=f"#{case.pk}: review").click()
    admin.get_by_label("Approve the reset").check()
    admin.get_by_label("Reason (required)").fill("Owner attested; change ticket CHG-42.")
    admin.get_by_role("button", name="Record decision").click()
    admin.get_by_text("Your decision on case").wait_for()

    page.goto(f"/cases/{case.pk}/")
    assert page.get_by_role("button", name="Issue credential").count() == 0
    page.get_by_label("Change ticket or vault reference").fill("CHG-42")
    page.get_by_role("button", name="Record rotation and complete").click()
    page.get_by_text("Rotation recorded").wait_for()
    shot(page, "service-account-rotation")
    case.refresh_from_db()
    assert case.state == RecoveryCase.State.COMPLETED
    assert CredentialRotation.objects.get(case=case).reference == "CHG-42"
