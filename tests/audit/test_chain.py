"""The audit trail proves itself: any edited, deleted, removed or smuggled-in
entry is found by the verify command."""

import json
import threading

import pytest
from auditlog.models import LogEntry
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from accounts.models import User
from audit import chain
from audit.events import record
from audit.models import ChainHead, ChainLink
from audit.tasks import verify_audit_chain
from tests.factories import UserFactory

# Entries are chained when their transaction commits: these tests commit.
pytestmark = pytest.mark.django_db(transaction=True)


def write_entries(n=5):
    user = UserFactory()
    for i in range(n):
        record("test_decision", target=user, actor=user, step=i)
    return user


def verify_output():
    from io import StringIO

    out = StringIO()
    call_command("verify_audit_chain", stdout=out)
    return out.getvalue()


def test_every_entry_joins_the_chain_and_the_chain_verifies():
    write_entries()
    assert ChainLink.objects.count() == LogEntry.objects.count() > 5
    sequences = list(ChainLink.objects.values_list("sequence", flat=True))
    assert sequences == list(range(1, len(sequences) + 1))
    assert "Audit chain intact" in verify_output()


def test_entries_join_the_chain_when_their_transaction_commits():
    user = UserFactory()
    before = ChainLink.objects.count()
    with transaction.atomic():
        entry = record("test_decision", target=user, actor=user)
        assert not ChainLink.objects.filter(entry_id=entry.pk).exists()
    assert ChainLink.objects.filter(entry_id=entry.pk).exists()
    assert ChainLink.objects.count() == before + 1
    assert chain.verify().intact


def test_a_rolled_back_decision_leaves_neither_entry_nor_link():
    user = UserFactory()
    links = ChainLink.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        record("test_decision", target=user, actor=user)
        raise RuntimeError("the decision failed")
    assert ChainLink.objects.count() == links
    assert not LogEntry.objects.filter(additional_data__event="test_decision").exists()
    assert chain.verify().intact


def test_an_entry_rolled_back_with_a_savepoint_is_left_out_and_the_rest_chained():
    user = UserFactory()
    with transaction.atomic():
        kept = record("test_decision", target=user, actor=user, n=1)
        with pytest.raises(RuntimeError), transaction.atomic():
            record("test_decision", target=user, actor=user, n=2)
            raise RuntimeError("inner step failed")
    assert list(ChainLink.objects.filter(
        entry_id__in=LogEntry.objects.filter(additional_data__event="test_decision")
        .values("pk")).values_list("entry_id", flat=True)) == [kept.pk]
    assert chain.verify().intact


def test_if_chaining_fails_the_whole_transaction_rolls_back(monkeypatch):
    user = UserFactory()

    def broken(connection, ids):
        raise RuntimeError("head unavailable")

    monkeypatch.setattr(chain, "chain_now", broken)
    with pytest.raises(DatabaseError, match="audit chain"), transaction.atomic():
        User.objects.filter(pk=user.pk).update(first_name="Changed")
        record("test_decision", target=user, actor=user)
    user.refresh_from_db()
    assert user.first_name != "Changed"
    assert not LogEntry.objects.filter(additional_data__event="test_decision").exists()


def test_an_edited_entry_is_reported_with_its_place():
    write_entries()
    victim = LogEntry.objects.filter(additional_data__step=2).get()
    LogEntry.objects.filter(pk=victim.pk).update(additional_data={"event": "nothing to see"})
    verdict = chain.verify()
    assert verdict.problem.kind == "edited_entry"
    assert verdict.problem.entry_id == victim.pk
    with pytest.raises(CommandError, match=f"edited_entry at sequence .*audit entry {victim.pk}"):
        verify_output()


def test_a_deleted_entry_is_reported():
    write_entries()
    victim = LogEntry.objects.filter(additional_data__step=3).get()
    LogEntry.objects.filter(pk=victim.pk).delete()
    problem = chain.verify().problem
    assert (problem.kind, problem.entry_id) == ("deleted_entry", victim.pk)


def test_a_removed_link_is_reported():
    write_entries()
    ChainLink.objects.filter(sequence=4).delete()
    problem = chain.verify().problem
    assert (problem.kind, problem.sequence) == ("missing_link", 4)


def test_an_entry_smuggled_in_outside_the_chain_is_reported():
    user = write_entries(1)
    smuggled = LogEntry.objects.bulk_create([LogEntry(
        content_type_id=LogEntry.objects.first().content_type_id, object_pk=str(user.pk),
        object_repr="x", action=LogEntry.Action.ACCESS, additional_data={"event": "forged"})])
    problem = chain.verify().problem
    assert problem.kind == "unchained_entry"
    assert problem.entry_id == smuggled[0].pk


def test_a_rewritten_chain_is_caught_by_a_saved_checkpoint(tmp_path):
    write_entries()
    saved = tmp_path / "checkpoint.json"
    saved.write_text(json.dumps(chain.checkpoint()))
    call_command("verify_audit_chain", checkpoint=saved, stdout=None)

    # An insider edits an entry and recomputes every hash after it.
    victim = LogEntry.objects.filter(additional_data__step=1).get()
    LogEntry.objects.filter(pk=victim.pk).update(additional_data={"event": "rewritten"})
    ids = list(ChainLink.objects.order_by("sequence").values_list("entry_id", flat=True))
    ChainLink.objects.all().delete()
    ChainHead.objects.all().delete()
    chain.append(ids)
    assert chain.verify().intact  # the chain alone cannot tell ...
    with pytest.raises(CommandError, match="Checkpoint does not match"):
        call_command("verify_audit_chain", checkpoint=saved)  # ... the checkpoint can


def test_a_forged_checkpoint_is_refused(tmp_path):
    write_entries()
    forged = {**chain.checkpoint(), "sequence": 1}
    saved = tmp_path / "forged.json"
    saved.write_text(json.dumps(forged))
    with pytest.raises(CommandError, match="signature is not valid"):
        call_command("verify_audit_chain", checkpoint=saved)


def test_the_daily_check_alerts_monitoring_on_a_break(settings, tmp_path):
    settings.MONITORING_SINK = "jsonl"
    settings.MONITORING_JSONL_PATH = str(tmp_path / "monitoring.jsonl")
    write_entries()
    assert verify_audit_chain().startswith("intact")
    LogEntry.objects.filter(additional_data__step=0).update(object_repr="changed")
    assert verify_audit_chain().startswith("broken")
    event = json.loads((tmp_path / "monitoring.jsonl").read_text().splitlines()[-1])
    assert event["event"] == "audit_chain_broken"
    assert "edited_entry" in event["summary"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_fork_the_chain(on_postgres):
    user = User.objects.create(username="writer")

    def write():
        try:
            for i in range(5):
                record("concurrent", target=user, actor=user, n=i)
        finally:
            connection.close()

    threads = [threading.Thread(target=write) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ChainLink.objects.count() == LogEntry.objects.count()
    assert chain.verify().intact


def test_the_chain_verifies_on_demo_data_and_pinpoints_a_raw_sql_edit(
        settings, recovery_reference_data):
    from io import StringIO

    settings.DEBUG = True
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_recovery_demo", stdout=StringIO())
    assert "Audit chain intact" in verify_output()
    victim = LogEntry.objects.filter(additional_data__event="case_opened").order_by("pk")[3]
    with connection.cursor() as cursor:
        cursor.execute("UPDATE auditlog_logentry SET additional_data = %s WHERE id = %s",
                       ['{"event": "case_opened", "tier": "low"}', victim.pk])
    link = ChainLink.objects.get(entry_id=victim.pk)
    where = f"edited_entry at sequence {link.sequence} \\(audit entry {victim.pk}\\)"
    with pytest.raises(CommandError, match=where):
        verify_output()


def test_entries_written_at_a_replayed_moment_are_dated_then_and_still_verify():
    from datetime import timedelta

    from django.utils import timezone

    from recovery_console import clock

    write_entries(2)
    weeks_ago = timezone.now() - timedelta(weeks=6)
    with clock.frozen_at(weeks_ago):
        user = UserFactory()  # django-auditlog's own entry for the new user
        replayed = record("test_decision", target=user, actor=user)
    later = record("test_decision", target=user, actor=user)
    own = LogEntry.objects.filter(object_pk=str(user.pk), additional_data__isnull=True).get()
    assert replayed.timestamp == own.timestamp == weeks_ago
    assert later.timestamp > weeks_ago and later.pk > replayed.pk  # chained by id, not time
    assert "Audit chain intact" in verify_output()
    LogEntry.objects.filter(pk=replayed.pk).update(timestamp=timezone.now())
    assert not chain.verify().intact  # the date is part of what is hashed


def test_the_frozen_clock_needs_an_aware_moment_and_is_released_after():
    from datetime import datetime, timedelta

    from django.utils import timezone

    from recovery_console import clock

    with pytest.raises(ValueError, match="aware"), clock.frozen_at(datetime(2026, 1, 1)):
        pass
    with clock.frozen_at(timezone.now() - timedelta(days=3)):
        assert timezone.now() - clock.now() > timedelta(days=2)
    assert abs(clock.now() - timezone.now()) < timedelta(seconds=5)
