"""A security admin configures an LDAP source in the admin (the password
only by the name of its environment variable), every edit audited, and
starts a pass or previews one from the source's sync page."""

import pytest
from auditlog.models import LogEntry
from django.test import Client
from django.urls import reverse

from accounts.models import Identity
from recovery_console.directory.models import DirectorySource, SyncRun
from tests import admin_forms
from tests.factories import staff
from tests.sessions import sign_in_client

from .conftest import PASSWORD_ENV
from .people import READER_DN, READER_PASSWORD, SUFFIX
from .support import ldap_source

pytestmark = pytest.mark.django_db
Status = SyncRun.Status


@pytest.fixture
def admin_client():
    return sign_in_client(Client(), staff("security_admin", is_staff=True))


@pytest.fixture
def source(slapd, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, READER_PASSWORD)
    return ldap_source(slapd.url, PASSWORD_ENV)


def sync_page(source):
    return reverse("admin:directory_directorysource_sync", args=[source.pk])


def add_form(**fields):
    form = {"name": "Corporate LDAP", "kind": "ldap", "enabled": "on",
            "ldap_url": "ldaps://ldap.example.org", "ldap_tls": "ldaps",
            "ldap_bind_dn": READER_DN, "ldap_password_env": "DIRECTORY_LDAP_PASSWORD",
            "ldap_base_dn": SUFFIX, "ldap_filter": "(objectClass=inetOrgPerson)",
            "ldap_watermark_attribute": "modifyTimestamp", "ldap_page_size": "500",
            "ldap_connect_timeout": "10", "ldap_receive_timeout": "60",
            "ldap_max_seconds": "1800", "identifier_attribute": "uid",
            "external_id_attribute": "entryUUID", "display_name_attribute": "cn",
            "value_separator": ";", "default_kind": "employee",
            "disabled_values": "false, 0, no, disabled, inactive",
            "rules-TOTAL_FORMS": "0", "rules-INITIAL_FORMS": "0"}
    form.update(fields)
    return form


def test_a_security_admin_adds_an_ldap_source_and_the_settings_are_audited(admin_client):
    response = admin_client.post(reverse("admin:directory_directorysource_add"), add_form())

    assert response.status_code == 302, response.content.decode()[:3000]
    source = DirectorySource.objects.get()
    assert (source.ldap_url, source.ldap_password_env) == ("ldaps://ldap.example.org",
                                                           "DIRECTORY_LDAP_PASSWORD")
    entry = LogEntry.objects.get_for_object(source).get()
    assert entry.changes_dict["ldap_bind_dn"][1] == READER_DN


def test_an_edit_of_the_bind_dn_is_audited_with_who_made_it(admin_client, source):
    response = admin_forms.change(admin_client, source, ldap_bind_dn="cn=other,dc=example,dc=org")

    assert response.status_code == 302, response.content.decode()[:3000]
    entry = LogEntry.objects.get_for_object(source).order_by("-pk").first()
    assert entry.changes_dict["ldap_bind_dn"] == [READER_DN, "cn=other,dc=example,dc=org"]
    assert entry.actor is not None


@pytest.mark.parametrize(("fields", "field", "words"), [
    ({"ldap_password_env": "hunter2 !"}, "ldap_password_env", "never the password"),
    ({"ldap_url": "http://ldap.example.org"}, "ldap_url", "ldap:// or ldaps://"),
    ({"ldap_tls": "starttls"}, "ldap_tls", "LDAPS needs an ldaps:// URL"),
    ({"ldap_base_dn": ""}, "ldap_base_dn", "Required for an LDAP source"),
    ({"ldap_filter": "objectClass=user"}, "ldap_filter", "in parentheses"),
    ({"external_id_attribute": ""}, "external_id_attribute", "Required for an LDAP source"),
])
def test_bad_ldap_settings_are_refused_beside_their_field(admin_client, fields, field, words):
    response = admin_client.post(reverse("admin:directory_directorysource_add"),
                                 add_form(**fields))

    assert response.status_code == 200
    assert words in " ".join(response.context["adminform"].form.errors.get(field, []))
    assert not DirectorySource.objects.exists()


def test_the_sync_state_is_not_editable_in_the_admin(admin_client, source):
    form = admin_forms.form_data(admin_client.get(
        reverse("admin:directory_directorysource_change", args=[source.pk])))
    assert "ldap_url" in form
    assert not {"ldap_watermark", "ldap_seen_ids", "ldap_last_full_at"} & set(form)


def test_sync_now_queues_a_pass_for_a_worker_naming_the_admin(admin_client, source,
                                                              monkeypatch):
    sent = []
    monkeypatch.setattr("recovery_console.dispatch.send", lambda *args: sent.append(args))

    response = admin_client.post(sync_page(source), {"pass": "full"})

    assert response.status_code == 302
    user = response.wsgi_request.user
    assert sent == [("sync_directory_source", source.pk, True, user.pk)]
    page = admin_client.get(sync_page(source)).content.decode()
    assert "Full sync now: queued for a worker" in page


def test_a_preview_reads_the_directory_and_changes_nothing_until_applied(
        admin_client, source, organisation):
    response = admin_client.post(sync_page(source), {"pass": "preview"})

    run = SyncRun.objects.get()
    assert response["Location"] == reverse("admin:directory_syncrun_change", args=[run.pk])
    assert run.status == Status.PREVIEWED and not Identity.objects.exists()
    admin_client.post(reverse("admin:directory_syncrun_apply", args=[run.pk]))
    run.refresh_from_db()
    assert run.status == Status.SUCCEEDED
    page = admin_client.get(sync_page(source)).content.decode()
    assert f"Run {run.pk}" in page and "Succeeded" in page


def test_a_failed_preview_shows_the_failed_run_with_its_reason(admin_client, source,
                                                               monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "wrong")

    response = admin_client.post(sync_page(source), {"pass": "preview"})

    run = SyncRun.objects.get()
    assert run.status == Status.FAILED and run.failure_reason.startswith("bind_refused:")
    page = admin_client.get(response["Location"]).content.decode()
    assert "bind_refused" in page


def test_the_sync_page_is_for_those_who_may_change_sources(source):
    for client, status in ((sign_in_client(Client(), staff("supervisor", is_staff=True)), 403),
                           (sign_in_client(Client(), staff("agent")), 302)):
        assert client.post(sync_page(source), {"pass": "preview"}).status_code == status
    assert not SyncRun.objects.exists()


def test_the_sync_page_lists_recent_runs_in_constant_queries(
        admin_client, source, django_assert_max_num_queries):
    for _ in range(3):
        SyncRun.objects.create(source=source, status=Status.FAILED, failure_reason="timeout: x")
    with django_assert_max_num_queries(12) as few:
        admin_client.get(sync_page(source))
    for _ in range(10):
        SyncRun.objects.create(source=source, status=Status.SUCCEEDED, created=3)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert admin_client.get(sync_page(source)).status_code == 200
