"""A security admin imports a CSV in the admin: upload, a preview of every
create / change / deactivate with nothing written, then apply through the
same decisions as every source. A bad file is refused with a message that
says what to fix, and changes nothing."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from accounts.models import Identity
from recovery_console import workflow
from recovery_console.directory.models import SyncRun
from tests import admin_forms
from tests.factories import staff
from tests.recovery.support import events
from tests.sessions import sign_in_client

from .support import hr_source, row

pytestmark = pytest.mark.django_db
Status = SyncRun.Status
HEADER = "id,name,department,groups,type,manager,sponsor,owner,email,mobile,phone,status"


@pytest.fixture
def admin_client():
    return sign_in_client(Client(), staff("security_admin", is_staff=True))


@pytest.fixture
def source():
    return hr_source()


def csv_file(*lines: str, header: str = HEADER, encoding: str = "utf-8") -> SimpleUploadedFile:
    return SimpleUploadedFile("people.csv", "\n".join([header, *lines]).encode(encoding),
                              content_type="text/csv")


def upload(client, source, file, **fields):
    return client.post(reverse("admin:directory_directorysource_import", args=[source.pk]),
                       {"file": file, **fields})


PEOPLE = (
    "m1,Mo Manager,Finance,admins,,,,,mo@example.org,+44 7700 900001,+44 20 7946 0001,active",
    "e1,Chloé Dupont,Sales,,,m1,,,chloe@example.org,,,active",
    "c1,Cy Contractor,,,contractor,,m1,,cy@example.org,,,active",
)


def test_upload_previews_every_change_and_writes_no_identity(admin_client, source):
    response = upload(admin_client, source, csv_file(*PEOPLE))
    assert response.status_code == 302, response.content.decode()[:2000]
    run = SyncRun.objects.get()
    assert (run.status, run.created, run.file_name) == (Status.PREVIEWED, 3, "people.csv")
    assert not Identity.objects.exists()
    page = admin_client.get(response["Location"]).content.decode()
    assert "3 to create, 0 to change, 0 to deactivate" in page
    assert "Chloé Dupont" in page and "manager: nobody → m1 (new)" in page
    assert "email channel added: c***@example.org" in page
    assert "Apply these changes" in page


def test_applying_the_preview_creates_the_identities_with_their_source(admin_client, source):
    upload(admin_client, source, csv_file(*PEOPLE))
    run = SyncRun.objects.get()
    response = admin_client.post(reverse("admin:directory_syncrun_apply", args=[run.pk]))
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == Status.SUCCEEDED and run.records is None
    chloe = Identity.objects.get(directory_id="e1")
    assert (chloe.directory_source, chloe.manager.directory_id) == (source, "m1")
    assert Identity.objects.get(directory_id="m1").privileged
    assert events("directory_identity_created").count() == 3
    page = admin_client.get(reverse("admin:accounts_identity_change", args=[chloe.pk]))
    assert "HR export (CSV import)" in page.content.decode()


def test_a_preview_is_applied_only_as_seen(admin_client, source):
    upload(admin_client, source, csv_file(*PEOPLE))
    run = SyncRun.objects.get()
    workflow.sync_directory(source, [row("e1", "Chloé Dupont")], complete=False)  # meanwhile
    response = admin_client.post(reverse("admin:directory_syncrun_apply", args=[run.pk]),
                                 follow=True)
    assert "changed since this preview" in response.content.decode()
    run.refresh_from_db()
    assert run.status == Status.PREVIEWED
    assert not Identity.objects.filter(directory_id="m1").exists()


def test_a_large_change_from_a_csv_waits_and_is_confirmed_on_its_page(admin_client, source):
    workflow.sync_directory(source, [row(f"e{i}") for i in range(20)])
    upload(admin_client, source, csv_file(*[f"e{i},Person e{i},,,,,,,e{i}@example.org,,,active"
                                            for i in range(14)]))
    run = SyncRun.objects.get(status=Status.PREVIEWED)
    page = admin_client.get(reverse("admin:directory_syncrun_change", args=[run.pk]))
    assert "applying it stops and waits" in page.content.decode()
    admin_client.post(reverse("admin:directory_syncrun_apply", args=[run.pk]))
    run.refresh_from_db()
    assert run.status == Status.WAITING and Identity.objects.filter(is_active=True).count() == 20
    page = admin_client.get(reverse("admin:directory_syncrun_change", args=[run.pk]))
    assert "6 to deactivate" in page.content.decode() and "Confirm and apply" in \
        page.content.decode()
    admin_client.post(reverse("admin:directory_syncrun_confirm", args=[run.pk]))
    run.refresh_from_db()
    assert run.status == Status.SUCCEEDED and run.confirmed_by is not None
    assert Identity.objects.filter(is_active=True).count() == 14


def test_a_run_can_be_discarded(admin_client, source):
    upload(admin_client, source, csv_file(*PEOPLE))
    run = SyncRun.objects.get()
    admin_client.post(reverse("admin:directory_syncrun_discard", args=[run.pk]))
    run.refresh_from_db()
    assert run.status == Status.DISCARDED and not Identity.objects.exists()


def refused(client, source, file, **fields):
    response = upload(client, source, file, **fields)
    assert response.status_code == 400, response.status_code
    assert not SyncRun.objects.exists() and not Identity.objects.exists()
    return response.content.decode()


def test_a_file_not_in_utf8_is_refused(admin_client, source):
    page = refused(admin_client, source, csv_file(*PEOPLE, encoding="latin-1"))
    assert "not UTF-8 text (line 3)" in page


def test_missing_columns_are_named(admin_client, source):
    page = refused(admin_client, source, csv_file("e1,Ada", header="id,name"))
    assert "Missing columns: department, manager, sponsor, owner, email, mobile, phone, " \
           "status, groups, type" in page


def test_duplicate_identifiers_are_refused_with_their_lines(admin_client, source):
    page = refused(admin_client, source, csv_file(PEOPLE[0], PEOPLE[1], PEOPLE[1].upper()))
    assert "Record 4: E1: the same identifier as record 3." in page


def test_an_oversized_file_is_refused(admin_client, source, settings):
    settings.DIRECTORY_CSV_MAX_BYTES = 200
    page = refused(admin_client, source, csv_file(*PEOPLE * 3))
    assert "the largest accepted is 0 KB" in page


def test_ragged_lines_and_broken_quotes_are_refused(admin_client, source):
    assert "Line 2 has 3 cells; the header has 12" in refused(
        admin_client, source, csv_file("e1,Ada,Sales"))
    assert "not valid CSV" in refused(admin_client, source, csv_file('e1,"Ada,' + "," * 10))


def test_formula_looking_cells_are_kept_as_text(admin_client, source):
    upload(admin_client, source, csv_file(
        '=HYPERLINK("http://evil.example"),"=1+2",Sales,,,,,,,,,active'))
    run = SyncRun.objects.get()
    workflow.apply_directory_run(run, staff("security_admin"))
    identity = Identity.objects.get()
    assert (identity.directory_id, identity.display_name) == (
        '=HYPERLINK("http://evil.example")', "=1+2")


def test_only_security_admins_import(source):
    supervisor = sign_in_client(Client(), staff("supervisor", is_staff=True))
    assert upload(supervisor, source, csv_file(*PEOPLE)).status_code == 403
    agent = sign_in_client(Client(), staff("agent"))
    assert upload(agent, source, csv_file(*PEOPLE)).status_code == 302  # to the admin sign-in
    assert not SyncRun.objects.exists()


def test_directory_managed_fields_are_read_only_in_the_identity_admin(admin_client, source):
    workflow.sync_directory(source, [row("e1", "Ada Lovelace")])
    identity = Identity.objects.get()
    response = admin_forms.change(admin_client, identity, display_name="Typed Over",
                                  traveller="on")
    assert response.status_code == 302
    identity.refresh_from_db()
    assert identity.display_name == "Ada Lovelace" and identity.traveller
    channel = identity.channels.get()
    page = admin_client.get(reverse("admin:accounts_recoverychannel_change",
                                    args=[channel.pk])).content.decode()
    assert 'name="address"' not in page


def test_a_person_missing_from_the_file_is_deprovisioned_when_the_preview_is_applied(
        admin_client, source, agent):
    from recovery_console.models import RecoveryCase
    from tests.factories import recovery_case

    case = recovery_case("low", agent=agent)
    leaver = case.identity
    Identity.objects.filter(pk=leaver.pk).update(directory_source=source,
                                                 external_id=leaver.directory_id)
    response = upload(admin_client, source, csv_file(*PEOPLE))
    page = admin_client.get(response["Location"]).content.decode()
    assert "no longer in the source (out of scope): access and channels revoked" in page
    leaver.refresh_from_db()
    assert leaver.is_active  # a preview changes nothing
    run = SyncRun.objects.get()
    admin_client.post(reverse("admin:directory_syncrun_apply", args=[run.pk]))
    leaver.refresh_from_db()
    case.refresh_from_db()
    assert not leaver.is_active and case.state == RecoveryCase.State.CANCELLED
    assert not leaver.channels.filter(revoked_at__isnull=True).exists()
    entry = events("directory_identity_deactivated").get()
    assert entry.additional_data["run"] == run.pk and entry.actor is not None


def test_security_admins_configure_a_source_and_its_rules_in_the_admin(admin_client):
    from auditlog.models import LogEntry

    from recovery_console.directory.models import DirectorySource

    url = reverse("admin:directory_directorysource_add")
    form = admin_forms.form_data(admin_client.get(url))
    form.update({"name": "Partners CSV", "kind": "csv", "rules-TOTAL_FORMS": "1",
                 "rules-0-position": "0", "rules-0-field": "kind", "rules-0-match_on": "group",
                 "rules-0-value": "Partners", "rules-0-result": "astronaut"})
    response = admin_client.post(url, form)
    assert response.status_code == 200 and "the result is one of" in response.content.decode()
    form["rules-0-result"] = "partner"
    assert admin_client.post(url, form).status_code == 302
    source = DirectorySource.objects.get(name="Partners CSV")
    assert source.mapping().rules[0].result == "partner"
    assert LogEntry.objects.get_for_object(source).filter(actor__isnull=False).exists()


def test_a_run_page_costs_the_same_queries_however_many_changes(
        admin_client, source):
    def run_page_queries(people: int) -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        workflow.sync_directory(source, [row("m1")])
        lines = ["m1,Mo,,,,,,,m1@example.org,,,active"] + [
            f"p{i},Person {i},,,,m1,,,p{i}@example.org,,,active" for i in range(people)]
        upload(admin_client, source, csv_file(*lines))
        run = SyncRun.objects.filter(status=Status.PREVIEWED).latest("pk")
        with CaptureQueriesContext(connection) as queries:
            page = admin_client.get(reverse("admin:directory_syncrun_change", args=[run.pk]))
        assert page.status_code == 200 and f"{people} to create" in page.content.decode()
        workflow.discard_directory_run(run, staff("security_admin"))
        return len(queries)

    assert run_page_queries(3) == run_page_queries(30)
