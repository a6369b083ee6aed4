"""Applying a directory's records goes through one set of decisions, whatever
the source: every change audited with the source and the run, all or
nothing, a run touching many identities waiting for a security admin, and
leaving the directory revoking everything."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Identity, RecoveryChannel
from recovery_console import risk, workflow
from recovery_console.directory.models import SyncRun
from recovery_console.models import Notice, RecoveryCase
from recovery_console.refusal import WorkflowError
from tests.factories import IdentityFactory, RecoveryChannelFactory, recovery_case, staff
from tests.recovery.support import events, refusals

from .support import hr_source, row

pytestmark = pytest.mark.django_db
Status = SyncRun.Status


@pytest.fixture
def admin():
    return staff("security_admin", is_staff=True)


def populate(source, count=20):
    records = [row("m1", "Mo Manager")] + [row(f"e{i}", manager="m1") for i in range(count - 1)]
    run = workflow.sync_directory(source, records)
    assert run.status == Status.SUCCEEDED, run.failure_reason
    return records


def test_a_first_sync_creates_identities_with_kind_flags_relations_and_channels():
    source = hr_source()
    run = workflow.sync_directory(source, [
        row("m1", "Mo Manager", groups="admins", department="Finance", phone="+44 20 7946 0001"),
        row("c1", "Cy Contractor", type="contractor", sponsor="m1", mobile="+44 7700 900123"),
        row("s1", "Svc Backup", type="service", owner="m1", email=""),
    ])
    assert (run.status, run.created, run.changed, run.deactivated) == (Status.SUCCEEDED, 3, 0, 0)
    manager = Identity.objects.get(directory_id="m1")
    assert (manager.privileged, manager.data_sensitivity, manager.directory_phone) == (
        True, "high", "+44 20 7946 0001")
    assert (manager.directory_source, manager.external_id) == (source, "m1")
    contractor = Identity.objects.get(directory_id="c1")
    assert (contractor.kind, contractor.sponsor) == ("contractor", manager)
    assert sorted(contractor.channels.values_list("kind", "from_directory")) == [
        ("email", True), ("phone", True)]
    service = Identity.objects.get(directory_id="s1")
    assert (service.kind, service.owner) == ("service_account", manager)
    assert contractor.user is not None and contractor.user.email == "c1@example.org"
    created = events("directory_identity_created").get(object_pk=str(contractor.pk))
    assert created.additional_data["run"] == run.pk
    assert created.additional_data["source_name"] == "HR export"


def test_a_channel_changed_at_the_source_is_a_recent_change_for_the_risk_tier():
    source = hr_source()
    workflow.sync_directory(source, [row("e1")])
    identity = Identity.objects.get(directory_id="e1")
    email = identity.channels.get()
    RecoveryChannel.objects.filter(pk=email.pk).update(changed_at=timezone.now() - timedelta(
        days=90))
    assert "A recovery channel changed in the last 7 days." not in risk.assess(
        identity, timezone.now()).reasons
    run = workflow.sync_directory(source, [row("e1", email="new.address@example.org")])
    assert run.changed == 1
    email.refresh_from_db()
    assert email.address == "new.address@example.org"
    assert email.changed_at > timezone.now() - timedelta(minutes=1)
    assert "A recovery channel changed in the last 7 days." in risk.assess(
        identity, timezone.now()).reasons
    assert events("directory_channel_changed").filter(object_pk=str(email.pk)).exists()


def test_a_changed_channel_voids_the_credential_sent_to_it(agent):
    from tests.recovery.support import approved, channel_of

    case = approved(recovery_case("low", agent=agent), agent)
    source = hr_source()
    identity = case.identity
    Identity.objects.filter(pk=identity.pk).update(directory_source=source,
                                                   external_id=identity.directory_id)
    email = channel_of(case, "email")
    RecoveryChannel.objects.filter(pk=email.pk).update(from_directory=True)
    issued = workflow.issue_credential(case, agent, channel=email)
    workflow.sync_directory(source, [row(identity.directory_id, identity.display_name,
                                         email="someone.else@example.net")],
                            complete=False)
    issued.credential.refresh_from_db()
    assert issued.credential.voided_at is not None
    case.refresh_from_db()
    assert case.state == RecoveryCase.State.CANCELLED


def test_moving_between_kinds_and_a_manager_change_are_audited_with_the_run():
    source = hr_source()
    workflow.sync_directory(source, [row("m1"), row("m2"), row("e1", manager="m1")])
    run = workflow.sync_directory(source, [row("m1"), row("m2"),
                                           row("e1", manager="m2", type="contractor")])
    identity = Identity.objects.get(directory_id="e1")
    assert (identity.kind, identity.manager.directory_id) == ("contractor", "m2")
    changed = events("directory_identity_changed").get(object_pk=str(identity.pk))
    assert changed.additional_data["moved"] is True
    assert changed.additional_data["fields"]["kind"] == ["employee", "contractor"]
    assert changed.additional_data["run"] == run.pk


def test_leaving_the_directory_revokes_everything_and_cancels_open_cases(agent):
    from tests.recovery.support import approved
    from tests.sessions import passkey_for

    case = approved(recovery_case("low", agent=agent), agent)
    identity = case.identity
    source = hr_source()
    Identity.objects.filter(pk=identity.pk).update(directory_source=source,
                                                   external_id=identity.directory_id)
    issued = workflow.issue_credential(case, agent)
    passkey, _ = passkey_for(identity.user)
    run = workflow.sync_directory(source, [])  # a full pass without them: out of scope
    assert (run.status, run.deactivated) == (Status.SUCCEEDED, 1)
    identity.refresh_from_db()
    case.refresh_from_db()
    issued.credential.refresh_from_db()
    passkey.refresh_from_db()
    assert not identity.is_active
    assert case.state == RecoveryCase.State.CANCELLED
    assert "directory" in case.closing_reason
    assert issued.credential.voided_at is not None
    assert not identity.channels.filter(revoked_at__isnull=True).exists()
    assert passkey.revoked_at is not None
    assert identity.user.sessions_valid_after is not None
    assert not identity.user.is_active  # no sign-in with any factor
    entry = events("directory_identity_deactivated").get(object_pk=str(identity.pk))
    assert entry.additional_data["reason"] == "out_of_scope"
    assert entry.additional_data["cases"] == [case.pk]
    assert Notice.objects.filter(event="identity_deprovisioned", identity=identity,
                                 medium=Notice.Medium.MONITORING).exists()


def test_passkeys_stay_when_the_policy_says_so(settings):
    from tests.sessions import passkey_for

    settings.DIRECTORY_DEPROVISION_REVOKES_PASSKEYS = False
    source = hr_source()
    workflow.sync_directory(source, [row("e1")])
    identity = Identity.objects.get(directory_id="e1")
    passkey, _ = passkey_for(identity.user)
    workflow.sync_directory(source, [row("e1", status="disabled")])
    passkey.refresh_from_db()
    identity.refresh_from_db()
    assert not identity.is_active and passkey.revoked_at is None


def test_re_enabling_restores_nothing_revoked():
    source = hr_source()
    workflow.sync_directory(source, [row("e1")])
    identity = Identity.objects.get(directory_id="e1")
    old_email = identity.channels.get()
    workflow.sync_directory(source, [row("e1", status="disabled")])
    workflow.sync_directory(source, [row("e1")])
    identity.refresh_from_db()
    old_email.refresh_from_db()
    assert identity.is_active
    assert old_email.revoked_at is not None  # the old channel stays revoked
    assert not identity.user.is_active  # an administrator enables the account
    fresh = identity.channels.get(revoked_at__isnull=True)
    assert fresh.pk != old_email.pk and fresh.changed_at > timezone.now() - timedelta(minutes=1)


def test_an_identity_typed_in_the_console_is_taken_over_without_touching_its_channel():
    typed = IdentityFactory(directory_id="e1", display_name="Person e1")
    channel = RecoveryChannelFactory(identity=typed, kind="email", address="e1@example.org")
    source = hr_source()
    run = workflow.sync_directory(source, [row("e1")])
    typed.refresh_from_db()
    channel.refresh_from_db()
    assert run.changed == 1 and typed.directory_source == source
    assert channel.from_directory and channel.changed_at < timezone.now() - timedelta(days=100)


def test_bad_records_fail_the_run_and_change_nothing():
    source = hr_source()
    run = workflow.sync_directory(source, [row("e1"), row("E1"), row("s1", type="service")])
    assert run.status == Status.FAILED
    assert "the same identifier as record 1" in run.failure_reason
    assert "service account needs a known owner" in run.failure_reason
    assert not Identity.objects.exists()
    assert events("directory_run_failed").filter(object_pk=str(run.pk)).exists()
    assert Notice.objects.filter(event="directory_run_failed").exists()


def test_a_database_error_half_way_leaves_nothing_applied(monkeypatch):
    from django.db import DatabaseError

    from recovery_console.workflow import directory

    source = hr_source()
    populate(source, 10)
    original = directory._Applier._deprovision

    def broken(self, identity, reason):
        original(self, identity, reason)
        raise DatabaseError("connection lost")

    monkeypatch.setattr(directory._Applier, "_deprovision", broken)
    records = [row("m1", "Renamed Manager")] + [row(f"e{i}", manager="m1") for i in range(8)]
    run = workflow.sync_directory(source, records)  # e8 leaves: the deprovisioning breaks
    assert run.status == Status.FAILED and "connection lost" in run.failure_reason
    assert Identity.objects.get(directory_id="m1").display_name == "Mo Manager"
    assert Identity.objects.get(directory_id="e8").is_active


def test_a_run_touching_too_many_identities_waits_and_a_security_admin_confirms(admin):
    source = hr_source()
    records = populate(source, 20)
    run = workflow.sync_directory(source, records[:15])  # 5 of 20 leave: 25 %
    assert run.status == Status.WAITING
    assert run.preview["counts"]["deactivate"] == 5
    assert Identity.objects.filter(is_active=True).count() == 20
    run = workflow.confirm_directory_run(run, admin)
    assert (run.status, run.confirmed_by, run.deactivated) == (Status.SUCCEEDED, admin, 5)
    assert Identity.objects.filter(is_active=True).count() == 15
    assert events("directory_run_confirmed").filter(actor=admin).exists()


def test_a_waiting_run_may_be_discarded_and_only_security_admins_decide(admin):
    source = hr_source()
    records = populate(source, 20)
    run = workflow.sync_directory(source, records[:10])
    with pytest.raises(WorkflowError) as refused:
        workflow.confirm_directory_run(run, staff("supervisor"))
    assert refused.value.reason == "role"
    assert refusals("directory_confirm", "role").exists()
    run = workflow.discard_directory_run(run, admin)
    assert run.status == Status.DISCARDED and run.records is None
    assert Identity.objects.filter(is_active=True).count() == 20


def test_small_runs_never_wait(settings):
    settings.DIRECTORY_MASS_CHANGE_MINIMUM = 5
    source = hr_source()
    records = populate(source, 10)
    assert workflow.sync_directory(source, records[:6]).status == Status.SUCCEEDED  # 4 leave


def test_a_confirmation_after_the_console_changed_is_refused(admin):
    source = hr_source()
    records = populate(source, 20)
    run = workflow.sync_directory(source, records[:15])
    Identity.objects.filter(directory_id="e3").update(display_name="Edited meanwhile")
    with pytest.raises(WorkflowError) as refused:
        workflow.confirm_directory_run(run, admin)
    assert refused.value.reason == "stale_preview"
    run.refresh_from_db()
    assert run.status == Status.WAITING


def test_a_disabled_source_runs_nothing():
    source = hr_source(enabled=False)
    run = workflow.sync_directory(source, [row("e1")])
    assert run.status == Status.FAILED and "disabled" in run.failure_reason
    assert not Identity.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attempt", range(3))
def test_two_confirmations_at_once_apply_the_run_once(on_postgres, attempt):
    from tests.services import race

    source = hr_source()
    records = populate(source, 20)
    run = workflow.sync_directory(source, records[:14])
    assert run.status == Status.WAITING
    first, second = staff("security_admin"), staff("security_admin")
    done, refused = race(lambda: workflow.confirm_directory_run(run, first),
                         lambda: workflow.confirm_directory_run(run, second))
    assert len(done) == 1 and [r.reason for r in refused] == ["run_state"]
    assert events("directory_identity_deactivated").count() == 6
    assert Notice.objects.filter(event="identity_deprovisioned").count() == 6


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attempt", range(3))
def test_two_passes_of_one_source_at_once_run_one_after_the_other(on_postgres, attempt):
    from tests.services import race

    source = hr_source()
    done, refused = race(lambda: workflow.sync_directory(source, [row("e1"), row("e2")]),
                         lambda: workflow.sync_directory(source, [row("e1"), row("e3")]))
    assert refused == [] and sorted(r.status for r in done) == [Status.SUCCEEDED] * 2
    assert Identity.objects.filter(directory_id="e1").count() == 1
    assert Identity.objects.filter(is_active=True).count() == 2  # the later pass won


def test_a_channel_the_directory_changes_in_a_watch_period_raises_an_alert(agent, settings):
    from recovery_console.models import Alert
    from tests.recovery.support import approved
    from tests.recovery.test_watch import recover

    settings.WEBAUTHN_ORIGINS = ["http://localhost:8000"]
    case = approved(recovery_case("low", agent=agent), agent)
    recover(case, agent)
    identity = case.identity
    source = hr_source()
    Identity.objects.filter(pk=identity.pk).update(directory_source=source,
                                                   external_id=identity.directory_id)
    RecoveryChannel.objects.filter(identity=identity, kind="email").update(from_directory=True)
    workflow.sync_directory(source, [row(identity.directory_id, identity.display_name,
                                         email="taken.over@example.net")], complete=False)
    alert = Alert.objects.get(identity=identity, kind=Alert.Kind.CHANNEL_CHANGE)
    assert "by the directory (HR export)" in alert.detail
