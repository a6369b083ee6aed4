"""Nothing outlives its deadline: a task at each deadline, a sweep every
minute, and a check at every use."""

import threading
from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.db import connection, transaction
from django.utils import timezone

from audit import chain
from recovery_console import clock, schedule, workflow
from recovery_console.celery import app
from recovery_console.models import RecoveryCase, RecoveryCredential
from recovery_console.tasks import expire_overdue_recovery_cases
from tests.factories import recovery_case, staff
from tests.recovery.support import approved
from tests.services import wait_for, worker

pytestmark = pytest.mark.django_db
State = RecoveryCase.State


def issued_case():
    agent = staff("agent")
    case = approved(recovery_case("low", agent=agent), agent)
    result = workflow.issue_credential(case, agent)
    case.refresh_from_db()
    return case, result


def test_a_credential_that_ran_out_unused_expires_its_case_with_an_audit_entry(monkeypatch):
    case, result = issued_case()
    later = result.credential.expires_at + timedelta(seconds=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert workflow.expire_due() == 1
    case.refresh_from_db()
    assert case.state == State.EXPIRED
    entry = LogEntry.objects.get(additional_data__event="case_expired", object_pk=str(case.pk))
    assert entry.additional_data["reason"] == "credential_ran_out"
    assert entry.additional_data["by"] == "sweep"
    chain.flush()  # what the commit would do (this test's transaction never commits)
    assert chain.verify().intact


def test_the_sweep_leaves_live_cases_alone(monkeypatch):
    case, result = issued_case()
    just_before = result.credential.expires_at - timedelta(seconds=1)
    monkeypatch.setattr(clock, "now", lambda: just_before)
    assert workflow.expire_due() == 0
    case.refresh_from_db()
    assert case.state == State.CREDENTIAL_ISSUED


def test_the_sweep_expires_many_cases_at_once_in_bulk(monkeypatch, django_assert_max_num_queries):
    cases = [recovery_case("low") for _ in range(6)]
    monkeypatch.setattr(clock, "now", lambda: timezone.now() + timedelta(days=4))
    with django_assert_max_num_queries(20):  # the same for 6 or 5,000 cases
        assert workflow.expire_due() == 6
    assert set(RecoveryCase.objects.filter(pk__in=[c.pk for c in cases])
               .values_list("state", flat=True)) == {State.EXPIRED}
    assert LogEntry.objects.filter(additional_data__event="case_expired").count() == 6
    chain.flush()  # what the commit would do (this test's transaction never commits)
    assert chain.verify().intact


@pytest.mark.django_db(transaction=True)
def test_sweep_threads_split_the_due_cases_and_expire_each_exactly_once(
        monkeypatch, recovery_reference_data):
    cases = [recovery_case("low") for _ in range(7)]
    monkeypatch.setattr(workflow.sweep, "SWEEP_BATCH", 2)
    monkeypatch.setattr(clock, "now", lambda: timezone.now() + timedelta(days=4))
    assert workflow.expire_due(workers=3) == 7
    assert set(RecoveryCase.objects.filter(pk__in=[c.pk for c in cases])
               .values_list("state", flat=True)) == {State.EXPIRED}
    expired = LogEntry.objects.filter(additional_data__event="case_expired")
    assert sorted(expired.values_list("object_id", flat=True)) == sorted(c.pk for c in cases)
    assert chain.verify().intact


@pytest.mark.django_db(transaction=True)
def test_the_sweep_skips_a_case_someone_holds_locked_and_expires_it_next_time(
        monkeypatch, recovery_reference_data, on_postgres):
    # A person acting on a case right now (their transaction holds its row)
    # neither waits for the sweep nor is waited for: the next sweep takes it.
    held, others = recovery_case("low"), [recovery_case("low") for _ in range(3)]
    monkeypatch.setattr(clock, "now", lambda: timezone.now() + timedelta(days=4))
    locked, release = threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic():
                RecoveryCase.objects.select_for_update().get(pk=held.pk)
                locked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(timeout=10)
        assert workflow.expire_due(workers=2) == 3
    finally:
        release.set()
        holder.join(timeout=30)
    states = dict(RecoveryCase.objects.values_list("pk", "state"))
    assert {states[c.pk] for c in others} == {State.EXPIRED}
    assert states[held.pk] == State.NEW
    assert workflow.expire_due(workers=2) == 1
    assert RecoveryCase.objects.get(pk=held.pk).state == State.EXPIRED
    assert chain.verify().intact


def test_inside_a_transaction_the_sweep_stays_in_it(monkeypatch):
    # Threads would not see this (uncommitted) transaction's cases.
    cases = [recovery_case("low") for _ in range(3)]
    monkeypatch.setattr(clock, "now", lambda: timezone.now() + timedelta(days=4))
    assert workflow.expire_due(workers=3) == 3
    assert set(RecoveryCase.objects.filter(pk__in=[c.pk for c in cases])
               .values_list("state", flat=True)) == {State.EXPIRED}


def test_a_late_sweep_never_lets_an_expired_credential_work(monkeypatch):
    case, result = issued_case()
    later = result.credential.expires_at + timedelta(seconds=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    with pytest.raises(workflow.WorkflowError):
        workflow.redeem(result.credential.handle, result.code)
    assert RecoveryCredential.objects.get(pk=result.credential.pk).used_at is None


@pytest.mark.django_db(transaction=True)
def test_a_task_at_the_credentials_deadline_expires_the_case(recovery_reference_data):
    case, result = issued_case()
    soon = timezone.now() + timedelta(seconds=1)
    RecoveryCredential.objects.filter(pk=result.credential.pk).update(expires_at=soon)
    with worker(app):
        with transaction.atomic():
            schedule.expire_case_at(case.pk, soon)
        assert wait_for(lambda: RecoveryCase.objects.get(pk=case.pk).state == State.EXPIRED)


@pytest.mark.django_db(transaction=True)
def test_the_beat_sweep_runs_in_a_worker(recovery_reference_data):
    case = recovery_case("low")
    RecoveryCase.objects.filter(pk=case.pk).update(deadline=timezone.now())
    with worker(app):
        expire_overdue_recovery_cases.delay()
        assert wait_for(lambda: RecoveryCase.objects.get(pk=case.pk).state == State.EXPIRED)
