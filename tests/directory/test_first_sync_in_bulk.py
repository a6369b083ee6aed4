"""A run creating many people at once writes them in bulk, and still as the
one-by-one path did: every identity, account, relation and channel, and an
audit entry for each identity and each channel, chained."""

import pytest

from accounts.models import Identity, RecoveryChannel, User
from audit import chain
from audit.models import ChainLink
from recovery_console import workflow
from recovery_console.directory.models import SyncRun
from tests.factories import UserFactory
from tests.recovery.support import events

from .support import hr_source, row

pytestmark = pytest.mark.django_db


def test_relations_to_people_created_in_the_same_run_are_set_whatever_the_order():
    source = hr_source()
    run = workflow.sync_directory(source, [
        row("e1", manager="m1"),  # before the manager it names
        row("s2", type="service", owner="s1"),  # owned by a service account made after it
        row("s1", type="service", owner="m1"),
        row("m1", "Mo Manager"),
    ])

    assert (run.status, run.created) == (SyncRun.Status.SUCCEEDED, 4)
    people = {i.directory_id: i for i in Identity.objects.select_related("manager", "owner")}
    assert people["e1"].manager == people["m1"]
    assert people["s1"].owner == people["m1"] and people["s2"].owner == people["s1"]


def test_accounts_are_named_after_the_directory_id_unless_the_name_is_taken():
    UserFactory(username="e1")
    source = hr_source()

    workflow.sync_directory(source, [row("e1"), row("e2")])

    e1, e2 = (Identity.objects.get(directory_id=d).user for d in ("e1", "e2"))
    assert e2.username == "e2" and e1.username.startswith(f"dir{source.pk}-")
    assert e2.email == "e2@example.org" and not e2.has_usable_password()
    assert User.objects.get(email_key="e2@example.org") == e2


@pytest.mark.django_db(transaction=True)  # entries join the chain when the run commits
def test_every_created_identity_and_channel_has_its_audit_entry_in_the_chain():
    source = hr_source()
    run = workflow.sync_directory(source, [row(f"e{i}", mobile=f"+44 7700 9001{i:02d}")
                                           for i in range(30)])

    identities = set(Identity.objects.values_list("pk", flat=True))
    created = events("directory_identity_created").filter(additional_data__run=run.pk)
    assert {int(e.object_pk) for e in created} == identities
    assert all(e.additional_data["source_name"] == "HR export" for e in created)
    channels = set(RecoveryChannel.objects.values_list("pk", flat=True))
    assert len(channels) == 60
    added = events("directory_channel_added").filter(additional_data__run=run.pk)
    assert {int(e.object_pk) for e in added} == channels
    email = RecoveryChannel.objects.filter(kind="email").first()
    assert email.address_key == email.address.lower()
    linked = set(ChainLink.objects.values_list("entry_id", flat=True))
    assert {e.pk for e in [*created, *added]} <= linked
    assert chain.verify().intact


def test_a_manager_disabled_at_the_source_and_never_here_is_left_empty_with_a_warning():
    source = hr_source()

    run = workflow.sync_directory(source, [row("m1", status="disabled"), row("e1", manager="m1")])

    assert (run.status, run.created) == (SyncRun.Status.SUCCEEDED, 1)
    assert Identity.objects.get(directory_id="e1").manager is None
    assert run.warnings == 1


def test_a_service_account_owned_by_someone_never_created_is_refused_by_name():
    source = hr_source()

    run = workflow.sync_directory(source, [row("m1", status="disabled"),
                                           row("s1", type="service", owner="m1")])

    assert run.status == SyncRun.Status.FAILED
    assert "s1: a service account needs a known owner" in run.failure_reason
    assert not Identity.objects.exists()
