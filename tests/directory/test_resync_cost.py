"""A re-sync costs what changed, not the size of the directory: people the
source still has as they are write nothing and are not audited, and a pass
takes as many queries for 300 people as for 30 (the benchmark,
bench/ldap_sync.py, measures the seconds at 10k and 100k)."""

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Identity, RecoveryChannel, User
from recovery_console import workflow
from recovery_console.directory.models import SyncRun
from tests.factories import IdentityFactory, staff
from tests.recovery.support import events
from tests.sessions import sign_in_client

from .support import hr_source, row

pytestmark = pytest.mark.django_db
Status = SyncRun.Status


def organisation(prefix: str, size: int) -> list[dict]:
    """A head, team leads and their people, a contractor each lead
    sponsors, a service account each lead owns; half with a mobile."""
    records = [row(f"{prefix}-head", "Hana Head", groups="admins", department="Finance")]
    for i in range(1, size):
        lead = f"{prefix}-lead{i // 10}"
        if i % 10 == 0:
            records.append(row(lead, f"Lead {i}", manager=f"{prefix}-head",
                               phone=f"+44 20 7946 {i:04d}"))
        elif i % 10 == 1:
            records.append(row(f"{prefix}-c{i}", type="contractor", sponsor=f"{prefix}-head"))
        elif i % 10 == 2:
            records.append(row(f"{prefix}-s{i}", type="service", owner=f"{prefix}-head",
                               email=""))
        else:
            records.append(row(f"{prefix}-e{i}", manager=lead if i > 10 else f"{prefix}-head",
                               mobile=f"+44 7700 9{i:05d}" if i % 2 else "",
                               department="Sales"))
    return records


def synced(prefix: str, size: int):
    source = hr_source(f"HR {prefix}")
    records = organisation(prefix, size)
    run = workflow.sync_directory(source, records)
    assert run.status == Status.SUCCEEDED, run.failure_reason
    return source, records


def changed(records: list[dict], count: int = 2) -> list[dict]:
    """``records`` with the first ``count`` people (after the head) renamed
    and given a new mobile."""
    records = [dict(record) for record in records]
    for record in records[1:count + 1]:
        record.update(name=f"{record['name']} Renamed", mobile="+44 7700 900999")
    return records


def queries(source, records, *, complete=True) -> tuple[int, SyncRun]:
    with CaptureQueriesContext(connection) as captured:
        run = workflow.sync_directory(source, records, complete=complete)
    assert run.status == Status.SUCCEEDED, run.failure_reason
    return len(captured), run


def rows() -> tuple:
    return (list(Identity.objects.order_by("pk").values()),
            list(RecoveryChannel.objects.order_by("pk").values()),
            list(User.objects.order_by("pk").values()))


def test_a_full_re_sync_with_nothing_changed_writes_no_row_and_audits_only_the_run():
    source, records = synced("hr", 40)
    before, entries = rows(), set(LogEntry.objects.values_list("pk", flat=True))

    run = workflow.sync_directory(source, records)

    assert (run.status, run.created, run.changed, run.deactivated, run.unchanged) == (
        Status.SUCCEEDED, 0, 0, 0, 40)
    assert rows() == before
    new = LogEntry.objects.exclude(pk__in=entries)
    assert new.exists()
    assert set(new.values_list("content_type", flat=True)) == {
        ContentType.objects.get_for_model(SyncRun).pk}
    assert events("directory_run_succeeded").filter(object_pk=str(run.pk)).exists()


def test_an_unchanged_full_re_sync_takes_as_many_queries_for_300_people_as_for_30():
    small, small_records = synced("small", 30)
    large, large_records = synced("large", 300)

    assert queries(small, small_records)[0] == queries(large, large_records)[0]


def test_a_re_sync_with_two_people_changed_takes_as_many_queries_at_either_size():
    small, small_records = synced("small", 30)
    large, large_records = synced("large", 300)

    full_small, run = queries(small, changed(small_records))
    assert (run.changed, run.unchanged) == (2, 28)
    full_large, run = queries(large, changed(large_records))
    assert (run.changed, run.unchanged) == (2, 298)
    assert full_small == full_large
    # An incremental pass carries only the people who changed.
    again_small = changed(small_records)
    again_large = changed(large_records)
    for record in (*again_small[1:3], *again_large[1:3]):
        record["department"] = "Legal"
    incremental_small, run = queries(small, again_small[1:3], complete=False)
    assert run.changed == 2
    incremental_large, run = queries(large, again_large[1:3], complete=False)
    assert run.changed == 2
    assert incremental_small == incremental_large


def test_each_changed_person_is_still_audited_with_the_source_and_the_run():
    source, records = synced("hr", 30)

    run = workflow.sync_directory(source, changed(records))

    audited = events("directory_identity_changed").filter(additional_data__run=run.pk)
    assert sorted(int(entry.object_pk) for entry in audited) == sorted(
        Identity.objects.filter(display_name__endswith="Renamed").values_list("pk", flat=True))
    assert all(entry.additional_data["source_name"] == "HR hr" for entry in audited)
    moved = events("directory_channel_changed").filter(additional_data__run=run.pk)
    added = events("directory_channel_added").filter(additional_data__run=run.pk)
    assert moved.count() + added.count() == 2


def test_a_typed_in_identity_a_record_names_is_still_found_beside_a_large_source():
    """The snapshot reads the source's own people whole, and looks up by
    identifier only what the source does not hold: a person typed in the
    console is adopted, and a manager named by identifier is found."""
    source, records = synced("hr", 30)
    typed = IdentityFactory(directory_id="typed-1", display_name="Tess Typed")

    run = workflow.sync_directory(source, [
        *records, row("typed-1", "Tess Typed"), row("new-1", manager="typed-1")])

    assert (run.status, run.created, run.changed, run.unchanged) == (Status.SUCCEEDED, 1, 1, 30)
    typed.refresh_from_db()
    assert (typed.directory_source, typed.external_id) == (source, "typed-1")
    assert Identity.objects.get(directory_id="new-1").manager == typed


def test_the_identity_list_does_not_read_the_ids_a_full_pass_saw_with_each_identity():
    admin_client = sign_in_client(Client(), staff("security_admin", is_staff=True))
    source, _records = synced("hr", 30)
    source.ldap_seen_ids = [f"id-{i}" for i in range(1000)]
    source.save(update_fields=["ldap_seen_ids"])

    with CaptureQueriesContext(connection) as captured:
        page = admin_client.get(reverse("admin:accounts_identity_changelist"))

    assert page.status_code == 200 and "HR hr" in page.content.decode()
    listed = [q["sql"] for q in captured if 'FROM "accounts_identity"' in q["sql"]]
    assert listed and not [sql for sql in listed if "ldap_seen_ids" in sql]
