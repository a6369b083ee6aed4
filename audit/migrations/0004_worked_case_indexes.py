"""Who held a case, read from the audit log: a claim by them, a hand-over or a
reassignment to them (recovery_console.workflow.rules.worked_entries). The
approvals list and the navigation's count ask it of every case waiting for a
decision; with a backlog PostgreSQL asks it once for all, and without these
indexes that was a pass over every audit entry (0.5 s at 4.1 M entries;
BENCHMARKS.md). Each index holds only the entries of its event.

PostgreSQL only, built CONCURRENTLY (the audit log keeps taking entries while
an existing deployment builds them). Other databases are left as they are."""

from django.db import migrations

CLAIMED = ("CREATE INDEX CONCURRENTLY IF NOT EXISTS audit_case_claimed_by_idx "
           "ON auditlog_logentry (actor_id) "
           "WHERE (additional_data -> 'event') = '\"case_claimed\"'::jsonb")
HANDED = ("CREATE INDEX CONCURRENTLY IF NOT EXISTS audit_case_handed_to_idx "
          "ON auditlog_logentry ((additional_data -> 'to')) "
          "WHERE (additional_data -> 'event') = ANY (ARRAY['\"case_handed_over\"'::jsonb, "
          "'\"case_reassigned\"'::jsonb])")
NAMES = ("audit_case_claimed_by_idx", "audit_case_handed_to_idx")


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in (CLAIMED, HANDED):
            schema_editor.execute(statement)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name in NAMES:
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("audit", "0003_sampling_report_include_open"),
        ("auditlog", "0017_add_actor_email"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
