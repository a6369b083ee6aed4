"""Issuing raced on PostgreSQL: the same issue form submitted twice at the
same moment issues once; two forms that both saw no live credential issue
once. Real threads with their own connections; no mocks, no sleeps."""

import pytest

from recovery_console import workflow
from recovery_console.models import RecoveryCredential
from tests.factories import recovery_case, staff
from tests.services import race

from .support import approved, events, refusals

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("recovery_reference_data")]


def test_the_same_form_submitted_twice_at_once_issues_once(on_postgres):
    agent = staff("agent")
    case = approved(recovery_case("low", agent=agent), agent)
    key = "double-click-key-0123"
    results, refused = race(
        lambda: workflow.issue_credential(case, agent, key=key, replaces=0),
        lambda: workflow.issue_credential(case, agent, key=key, replaces=0),
    )
    assert refused == [] and len(results) == 2
    assert sorted(r.replayed for r in results) == [False, True]
    assert results[0].credential == results[1].credential
    credential = RecoveryCredential.objects.get(case=case)
    assert credential.voided_at is None and credential.issue_key == key
    assert events("credential_issued").count() == 1


def test_two_pages_that_saw_no_credential_issue_once(on_postgres):
    agent = staff("agent")
    case = approved(recovery_case("low", agent=agent), agent)
    results, refused = race(
        lambda: workflow.issue_credential(case, agent, key="first-tab-key-012345", replaces=0),
        lambda: workflow.issue_credential(case, agent, key="other-tab-key-012345", replaces=0),
    )
    assert len(results) == 1 and [r.reason for r in refused] == ["stale_form"]
    assert RecoveryCredential.objects.filter(case=case, voided_at__isnull=True).count() == 1
    assert refusals("credential_issue", "stale_form").count() == 1
