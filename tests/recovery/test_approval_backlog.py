"""With many cases awaiting approval, PostgreSQL asks "has this approver held
the case" (their claim, a hand-over or reassignment to them, in the audit log)
once for all of them. The audit log's partial indexes (audit 0004) answer it
only while their conditions match the SQL the ORM writes for that question;
otherwise it is a pass over every audit entry (0.5 s at 4 million entries).
The lists' other reads have partial indexes of their own (recovery 0025)."""

import pytest
from auditlog.models import LogEntry
from django.db import connection

from recovery_console import selectors, workflow
from tests.factories import staff

pytestmark = pytest.mark.django_db


def plan(queryset) -> str:
    """PostgreSQL's plan for ``queryset`` when it may use any index it can."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_who_held_a_case_is_read_through_the_audit_logs_own_indexes(on_postgres):
    """Hand-overs and reassignments to a person have no other index: the plan
    can use one only if the partial index's condition matches the ORM's SQL."""
    supervisor = staff("supervisor")
    held = LogEntry.objects.filter(workflow.worked_entries(supervisor)).order_by()
    assert "audit_case_handed_to_idx" in plan(held.values("object_pk"))
    claimed = LogEntry.objects.filter(actor__isnull=False, additional_data__event="case_claimed")
    assert "audit_case_claimed_by_idx" in plan(claimed.order_by().values("object_pk"))


def test_the_approvals_list_and_the_lost_passkey_list_read_their_own_indexes(on_postgres):
    supervisor = staff("supervisor")
    assert "case_awaiting_deadline_idx" in plan(selectors.awaiting_approval(supervisor)[:25])
    assert "case_lost_device_review_idx" in plan(selectors.lost_device_cases()[:50])
