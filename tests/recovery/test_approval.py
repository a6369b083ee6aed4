"""Supervisor approval through HTTP: step-up first, a required reason, never
the case's agent or its subject, never twice; restricted needs two."""

from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from django.urls import reverse

from recovery_console import workflow
from recovery_console.models import Approval, RecoveryCase
from tests.factories import recovery_case, staff
from tests.sessions import sign_in_client

from .support import refusals, verify

pytestmark = pytest.mark.django_db
State = RecoveryCase.State


def awaiting(tier, agent, **identity_fields):
    case = verify(recovery_case(tier, agent=agent, **identity_fields), agent)
    workflow.request_approval(case, agent)
    case.refresh_from_db()
    return case


def decide(client, case, decision="approve", reason="Evidence is complete and consistent."):
    return client.post(reverse("recovery:decide", args=[case.pk]),
                       {"decision": decision, "reason": reason})


def test_supervisor_sees_the_case_and_approves_it_after_stepping_up(client, agent):
    case = awaiting("high", agent)
    supervisor = staff("supervisor")
    sign_in_client(client, supervisor)
    listing = client.get(reverse("recovery:approvals"))
    assert case.identity.display_name in listing.content.decode()
    page = client.get(reverse("recovery:decide", args=[case.pk]))
    assert page.status_code == 200
    assert "The caller read back the code." in page.content.decode()
    response = decide(client, case)
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.state == State.APPROVED
    approval = Approval.objects.get(case=case)
    assert approval.approver == supervisor
    assert approval.step_up_device == supervisor.totpdevice_set.get().persistent_id


def test_without_a_fresh_step_up_the_supervisor_is_sent_to_step_up_and_nothing_changes(
        client, agent):
    case = awaiting("high", agent)
    sign_in_client(client, staff("supervisor"), stepped_up_ago=timedelta(minutes=6))
    response = client.get(reverse("recovery:decide", args=[case.pk]))
    assert response.status_code == 302
    target = urlparse(response.url)
    assert target.path == reverse("accounts:step_up")
    assert parse_qs(target.query)["next"] == [reverse("recovery:decide", args=[case.pk])]
    assert decide(client, case).status_code == 302
    case.refresh_from_db()
    assert case.state == State.AWAITING_APPROVAL
    assert not Approval.objects.exists()


def test_supervisor_cannot_approve_case_they_worked(client):
    worker = staff("agent", "supervisor")
    case = awaiting("high", worker)
    sign_in_client(client, worker)
    assert case.pk not in [c.pk for c in client.get(reverse("recovery:approvals"))
                           .context["cases"]]
    response = decide(client, case)
    assert response.status_code == 403
    assert "You worked on this case" in response.content.decode()
    assert not Approval.objects.exists()
    assert refusals("approval", "worked_case").get().actor == worker


def test_supervisor_cannot_approve_their_own_recovery(client, agent):
    supervisor = staff("supervisor")
    case = awaiting("high", agent, user=supervisor)
    sign_in_client(client, supervisor)
    response = decide(client, case)
    assert response.status_code == 403
    assert "recovery of your own account" in response.content.decode()
    case.refresh_from_db()
    assert case.state == State.AWAITING_APPROVAL
    assert refusals("approval", "subject").exists()


def test_a_second_approval_by_the_same_supervisor_is_refused(client, agent):
    case = awaiting("restricted", agent)
    supervisor = staff("supervisor")
    sign_in_client(client, supervisor)
    assert decide(client, case).status_code == 302
    response = decide(client, case)  # double submission
    assert response.status_code == 409
    assert "You already decided on this case." in response.content.decode()
    assert Approval.objects.filter(case=case).count() == 1
    case.refresh_from_db()
    assert case.state == State.AWAITING_APPROVAL
    assert refusals("approval", "already_decided").exists()


def test_restricted_case_is_approved_by_the_second_distinct_supervisor(client, agent):
    case = awaiting("restricted", agent)
    for supervisor in (staff("supervisor"), staff("supervisor")):
        client.logout()
        sign_in_client(client, supervisor)
        assert decide(client, case).status_code == 302
    case.refresh_from_db()
    assert case.state == State.APPROVED


def test_a_reason_is_required_and_bounded(client, agent):
    case = awaiting("high", agent)
    sign_in_client(client, staff("supervisor"))
    assert decide(client, case, reason="").status_code == 400
    response = decide(client, case, reason="r" * 1001)
    assert response.status_code == 400
    assert "too long" in response.content.decode()
    assert refusals("approval", "reason_length").exists()
    assert not Approval.objects.exists()


def test_denial_closes_the_case(client, agent):
    case = awaiting("high", agent)
    sign_in_client(client, staff("supervisor"))
    assert decide(client, case, "deny", "Caller could not say who their manager is.") \
        .status_code == 302
    case.refresh_from_db()
    assert case.state == State.DENIED


def test_agents_cannot_reach_the_approval_pages(client, agent):
    case = awaiting("high", agent)
    sign_in_client(client, staff("agent"))
    assert client.get(reverse("recovery:approvals")).status_code == 403
    assert decide(client, case).status_code == 403


def test_a_case_not_awaiting_approval_cannot_be_decided(client, agent):
    case = recovery_case("high", agent=agent)
    sign_in_client(client, staff("supervisor"))
    response = decide(client, case)
    assert response.status_code == 409
    assert refusals("approval", "state").exists()


def test_the_decision_form_is_offered_only_when_the_viewer_may_decide(client, agent):
    case = awaiting("high", agent)
    supervisor = staff("supervisor")
    sign_in_client(client, supervisor)
    assert "Record decision" in client.get(reverse("recovery:decide", args=[case.pk])) \
        .content.decode()
    decide(client, case)
    page = client.get(reverse("recovery:decide", args=[case.pk])).content.decode()
    assert "Record decision" not in page and "not waiting for your decision" in page


def test_the_approvals_page_is_paginated_with_a_query_count_that_does_not_grow(
        client, agent, settings, django_assert_max_num_queries):
    settings.RECOVERY_QUEUE_PAGE_SIZE = 2
    supervisor = staff("supervisor")
    sign_in_client(client, supervisor)
    for _ in range(3):
        awaiting("high", agent)
    # 13: the list of cases whose lost passkey still signs in is one query.
    with django_assert_max_num_queries(13):
        first = client.get(reverse("recovery:approvals")).content.decode()
    assert first.count(": review</a>") == 2 and "Page 1 of 2" in first
    second = client.get(reverse("recovery:approvals"), {"page": 2}).content.decode()
    assert second.count(": review</a>") == 1
    for _ in range(3):
        awaiting("high", agent)
    with django_assert_max_num_queries(13):
        more = client.get(reverse("recovery:approvals")).content.decode()
    assert "Page 1 of 3" in more
