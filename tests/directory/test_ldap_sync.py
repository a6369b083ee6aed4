"""An LDAP source synced from a real OpenLDAP server: the first pass creates
everyone, incremental passes carry what changed, a full pass deactivates
whoever left, and a directory that is down, refuses the bind or stalls
fails the run cleanly (nothing applied, reason kept, monitoring told) with
the next pass resuming from the last good point."""

import pytest

from accounts.models import Identity
from recovery_console import workflow
from recovery_console.celery import app
from recovery_console.directory.models import DirectorySource, SyncRun
from recovery_console.models import Notice
from recovery_console.tasks import sync_directory_source, sync_ldap_sources
from tests.factories import staff
from tests.recovery.support import events
from tests.services import worker

from .conftest import PASSWORD_ENV
from .faults import Cutoff, Silent
from .people import READER_PASSWORD
from .support import ldap_source

pytestmark = pytest.mark.django_db
Status = SyncRun.Status


@pytest.fixture
def source(slapd, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, READER_PASSWORD)
    return ldap_source(slapd.url, PASSWORD_ENV)


def sync(source, full=False):
    status = sync_directory_source.apply(args=[source.pk, full]).get()
    if status == Status.FAILED:
        print(latest(source).failure_reason)
    return status


def latest(source):
    return source.runs.order_by("-pk").first()


def test_a_first_sync_creates_everyone_with_kinds_managers_owners_and_disabled_accounts(
        source, organisation):
    assert sync(source) == Status.SUCCEEDED

    run = latest(source)
    people = [p for p in organisation.people if not p.disabled]  # locked: never brought in
    assert len(people) < len(organisation.people)
    assert (run.complete, run.created, run.deactivated) == (True, len(people), 0)
    by_uid = {i.directory_id: i for i in Identity.objects.filter(directory_source=source)}
    assert len(by_uid) == len(people)
    for person in people:
        identity = by_uid[person.uid]
        assert identity.external_id == person.id and identity.is_active
        expected = {"ou=contractors": "contractor", "ou=service-accounts": "service_account"}
        assert identity.kind == next((kind for ou, kind in expected.items()
                                      if ou in person.ou), "employee")
        if person.manager and person.manager in {p.dn for p in people}:
            manager = next(p for p in organisation.people if p.dn == person.manager)
            assert identity.manager.directory_id == manager.uid
    assert by_uid[people[0].uid].manager is None
    finance = next(p for p in people if p.department == "Finance")
    assert by_uid[finance.uid].data_sensitivity == "high"
    admins = {dn for dn in organisation.groups["admins"].members}
    assert {i.directory_id for i in by_uid.values() if i.privileged} == {
        p.uid for p in people if p.dn in admins}
    source.refresh_from_db()
    assert source.ldap_watermark and len(source.ldap_seen_ids) == len(organisation.people)
    assert source.ldap_last_full_at is not None
    created = events("directory_identity_created").filter(additional_data__run=run.pk)
    assert created.count() == len(people)


def test_an_incremental_pass_carries_only_what_changed(source, changing_slapd, organisation):
    sync(source)
    person = organisation.people[40]
    changing_slapd.modify(f"dn: {person.dn}\nchangetype: modify\nreplace: cn\n"
                          "cn: Renamed Person\n")

    assert sync(source) == Status.SUCCEEDED

    run = latest(source)
    assert run.complete is False
    assert run.changed == 1
    assert run.created + run.unchanged < 10  # a few re-read around the watermark, not all
    assert Identity.objects.get(directory_id=person.uid).display_name == "Renamed Person"


def test_a_full_pass_deactivates_people_deleted_at_the_source(source, changing_slapd,
                                                              organisation):
    sync(source)
    gone = organisation.people[100]
    changing_slapd.modify(f"dn: {gone.dn}\nchangetype: delete\n")

    assert sync(source) == Status.SUCCEEDED  # incremental: cannot see a deletion
    assert Identity.objects.get(directory_id=gone.uid).is_active

    assert sync(source, full=True) == Status.SUCCEEDED
    run = latest(source)
    assert (run.complete, run.deactivated) == (True, 1)
    identity = Identity.objects.get(directory_id=gone.uid)
    assert identity.is_active is False
    assert identity.channels.filter(revoked_at__isnull=True).count() == 0
    entry = events("directory_identity_deactivated").get(object_pk=str(identity.pk))
    assert entry.additional_data["reason"] == "deleted"
    assert Notice.objects.filter(event="identity_deprovisioned", identity=identity).exists()
    source.refresh_from_db()
    assert gone.id not in source.ldap_seen_ids


def failed_cleanly(source, before_watermark, reason):
    run = latest(source)
    assert run.status == Status.FAILED
    assert run.failure_reason.startswith(f"{reason}:"), run.failure_reason
    assert events("directory_run_failed").filter(object_pk=str(run.pk)).exists()
    alert = Notice.objects.get(idempotency_key=f"directory-failed:{run.pk}:monitoring")
    assert alert.medium == Notice.Medium.MONITORING
    source.refresh_from_db()
    assert source.ldap_watermark == before_watermark
    return run


def test_a_server_that_is_down_fails_the_run_and_the_next_pass_resumes(
        source, changing_slapd, organisation):
    sync(source)
    source.refresh_from_db()
    watermark = source.ldap_watermark
    person = organisation.people[50]
    changing_slapd.modify(f"dn: {person.dn}\nchangetype: modify\nreplace: cn\ncn: While Down\n")
    changing_slapd.stop()
    try:
        assert sync(source) == Status.FAILED
        failed_cleanly(source, watermark, "unreachable")
    finally:
        changing_slapd.start()

    assert sync(source) == Status.SUCCEEDED
    assert latest(source).complete is False  # from the last good watermark
    assert Identity.objects.get(directory_id=person.uid).display_name == "While Down"


def test_a_refused_bind_fails_the_run_and_changes_nothing(source, monkeypatch):
    sync(source)
    source.refresh_from_db()
    count = Identity.objects.filter(is_active=True).count()
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")

    assert sync(source, full=True) == Status.FAILED

    failed_cleanly(source, source.ldap_watermark, "bind_refused")
    assert Identity.objects.filter(is_active=True).count() == count


def test_a_password_missing_from_the_environment_fails_the_run(source, monkeypatch):
    monkeypatch.delenv(PASSWORD_ENV)

    assert sync(source) == Status.FAILED

    failed_cleanly(source, "", "no_credentials")
    assert not Identity.objects.exists()


def test_a_server_that_never_answers_times_out_and_applies_nothing(source):
    silent = Silent()
    DirectorySource.objects.filter(pk=source.pk).update(ldap_url=silent.url,
                                                        ldap_receive_timeout=1)
    try:
        assert sync(source) == Status.FAILED
    finally:
        silent.close()

    failed_cleanly(source, "", "timeout")
    assert not Identity.objects.exists()


def test_a_server_that_stalls_in_the_middle_of_a_full_pass_deactivates_nobody(
        source, slapd, organisation):
    sync(source)
    source.refresh_from_db()
    frozen = Cutoff(slapd.port, after=20_000, stall=True)
    DirectorySource.objects.filter(pk=source.pk).update(ldap_url=frozen.url, ldap_page_size=10,
                                                        ldap_receive_timeout=1)
    try:
        assert sync(source, full=True) == Status.FAILED
    finally:
        frozen.close()

    failed_cleanly(source, source.ldap_watermark, "timeout")
    assert Identity.objects.filter(is_active=True).count() == sum(
        not p.disabled for p in organisation.people)


def test_a_source_missing_its_settings_fails_with_what_to_fill_in(source):
    DirectorySource.objects.filter(pk=source.pk).update(ldap_base_dn="")

    assert sync(source) == Status.FAILED

    assert "not_configured" in latest(source).failure_reason


def test_no_pass_runs_while_a_run_of_the_source_waits_for_a_security_admin(source):
    SyncRun.objects.create(source=source, status=Status.WAITING)

    assert sync(source) == "skipped"
    assert source.runs.count() == 1


def test_beat_queues_one_pass_per_enabled_ldap_source(source, settings, monkeypatch):
    DirectorySource.objects.create(name="Off", kind="ldap", enabled=False)
    DirectorySource.objects.create(name="HR", kind="csv")
    queued = []
    monkeypatch.setattr(sync_directory_source, "delay", lambda *args: queued.append(args))
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["sync-ldap-sources"]["schedule"] == 15 * 60
    assert schedule["full-sync-ldap-sources"]["kwargs"] == {"full": True}

    assert sync_ldap_sources.apply(kwargs={"full": True}).get() == 1
    assert queued == [(source.pk, True)]


@pytest.mark.django_db(transaction=True)
def test_a_pass_queued_through_the_broker_runs_in_a_real_worker(source, organisation):
    from tests.services import wait_for

    with worker(app):
        sync_directory_source.delay(source.pk)
        assert wait_for(lambda: latest(source) is not None
                        and latest(source).status == Status.SUCCEEDED, timeout=180)
    assert Identity.objects.filter(directory_source=source).count() == sum(
        not p.disabled for p in organisation.people)


def test_a_security_admin_previews_a_full_pass_and_applies_it(source, organisation):
    admin = staff("security_admin", is_staff=True)

    run = workflow.preview_ldap_source(source, admin)

    assert (run.status, run.created) == (Status.PREVIEWED,
                                         sum(not p.disabled for p in organisation.people))
    assert not Identity.objects.exists()
    run = workflow.apply_directory_run(run, admin)
    assert run.status == Status.SUCCEEDED
    assert Identity.objects.count() == sum(not p.disabled for p in organisation.people)
