"""Races on PostgreSQL: two decisions at the same moment, exactly one wins.
Real threads with their own connections; no mocks, no sleeps."""


import pytest

from recovery_console import alerts, workflow
from recovery_console.models import Alert, Approval, RecoveryCase, RecoverySession
from tests.factories import IdentityFactory, recovery_case, staff
from tests.services import race

from .support import approved, refusals, step_up_now, verify

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("recovery_reference_data")]


def test_two_concurrent_approvals_of_a_high_case_exactly_one_wins(on_postgres):
    agent = staff("agent")
    case = verify(recovery_case("high", agent=agent), agent)
    workflow.request_approval(case, agent)
    first, second = staff("supervisor"), staff("supervisor")
    results, refused = race(
        lambda: workflow.approve(case, first, "Fine.", step_up=step_up_now()),
        lambda: workflow.approve(case, second, "Fine too.", step_up=step_up_now()),
    )
    assert len(results) == 1 and len(refused) == 1
    assert "approved" in refused[0].message
    assert Approval.objects.filter(case=case).count() == 1
    case.refresh_from_db()
    assert case.state == RecoveryCase.State.APPROVED
    assert refusals("approval", "state").count() == 1


def test_the_same_supervisor_submitting_twice_at_once_decides_once(on_postgres):
    agent = staff("agent")
    case = verify(recovery_case("restricted", agent=agent), agent)
    workflow.request_approval(case, agent)
    supervisor = staff("supervisor")
    results, refused = race(
        lambda: workflow.approve(case, supervisor, "Once.", step_up=step_up_now()),
        lambda: workflow.approve(case, supervisor, "Twice.", step_up=step_up_now()),
    )
    assert len(results) == 1 and len(refused) == 1
    assert Approval.objects.filter(case=case).count() == 1
    case.refresh_from_db()
    assert case.state == RecoveryCase.State.AWAITING_APPROVAL


def test_two_concurrent_redemptions_of_one_credential_exactly_one_wins(on_postgres):
    agent = staff("agent")
    case = approved(recovery_case("low", agent=agent), agent)
    issued = workflow.issue_credential(case, agent)
    handle = issued.credential.handle
    results, refused = race(
        lambda: workflow.redeem(handle, issued.code),
        lambda: workflow.redeem(handle, issued.code),
    )
    assert len(results) == 1 and len(refused) == 1
    assert RecoverySession.objects.filter(case=case).count() == 1
    issued.credential.refresh_from_db()
    assert issued.credential.used_at is not None
    assert refusals("credential_redeem", "used").count() == 1


def test_two_admins_acknowledging_overlapping_alerts_at_once_exactly_one_wins(on_postgres):
    shared, own = (Alert.objects.create(identity=IdentityFactory(), kind=Alert.Kind.NEW_NETWORK,
                                        detail="New network.") for _ in range(2))
    first, second = staff("security_admin"), staff("security_admin")
    results, refused = race(
        lambda: alerts.acknowledge_many([shared.pk, own.pk], first, "Mine."),
        lambda: alerts.acknowledge_many([shared.pk], second, "No, mine."),
    )
    assert len(results) == 1 and len(refused) == 1
    assert refused[0].reason == "acknowledged"
    shared.refresh_from_db()
    assert shared.acknowledged_by in (first, second)
    assert shared.acknowledgement_note == ("Mine." if shared.acknowledged_by == first
                                           else "No, mine.")
