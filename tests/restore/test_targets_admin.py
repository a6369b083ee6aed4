"""Security admins choose where access is restored, per population or tier,
in the admin: every edit audited; the credentials only ever named (the
environment variables that must hold them), never typed or stored."""

import pytest
from auditlog.models import LogEntry
from django.test import Client
from django.urls import reverse

from recovery_console.directory.models import DirectorySource
from recovery_console.restore.models import RestoreTarget
from recovery_console.restore.workflow import requeue_stalled, target_for
from tests.factories import IdentityFactory, staff
from tests.sessions import sign_in_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client():
    return sign_in_client(Client(), staff("security_admin", is_staff=True))


@pytest.fixture
def source():
    return DirectorySource.objects.create(name="Entra provisioning", kind="scim")


def test_a_security_admin_adds_a_target_and_the_change_is_audited(admin_client, source):
    response = admin_client.post(reverse("admin:restore_restoretarget_add"), {
        "name": "CORP", "kind": "entra", "enabled": "on", "dry_run": "on",
        "population": "employee", "tier": "", "directory_source": str(source.pk),
        "subject_attribute": "external_id", "remove_old_passkeys": "on",
        "revoke_sessions": "on"})
    assert response.status_code == 302, response.content.decode()[:2000]
    target = RestoreTarget.objects.get(name="CORP")
    assert target.dry_run and target.population == "employee"
    assert LogEntry.objects.get_for_object(target).count() == 1
    page = admin_client.get(reverse("admin:restore_restoretarget_change",
                                    args=[target.pk])).content.decode()
    assert "RESTORE_CORP_CLIENT_SECRET" in page and "missing" in page


def test_the_page_says_which_variables_are_set_never_their_values(
        admin_client, source, monkeypatch):
    target = RestoreTarget.objects.create(name="CORP", kind="okta", directory_source=source)
    monkeypatch.setenv("RESTORE_CORP_API_TOKEN", "00QCjAl4MlV-WPXM-secret")
    page = admin_client.get(reverse("admin:restore_restoretarget_change",
                                    args=[target.pk])).content.decode()
    assert "RESTORE_CORP_API_TOKEN" in page and "00QCjAl4MlV" not in page
    assert "RESTORE_CORP_ORG_URL</code> missing" in page


def test_an_external_target_must_name_its_directory(admin_client):
    response = admin_client.post(reverse("admin:restore_restoretarget_add"), {
        "name": "CORP", "kind": "okta", "enabled": "on", "population": "", "tier": "",
        "subject_attribute": "external_id"})
    assert response.status_code == 200
    assert "names the directory" in response.content.decode()
    assert not RestoreTarget.objects.exists()


def test_a_name_that_cannot_name_environment_variables_is_refused(admin_client, source):
    response = admin_client.post(reverse("admin:restore_restoretarget_add"), {
        "name": "corp-okta", "kind": "okta", "enabled": "on", "population": "", "tier": "",
        "directory_source": str(source.pk), "subject_attribute": "external_id"})
    assert response.status_code == 200 and "Capital letters" in response.content.decode()


def test_an_agent_cannot_reach_the_targets(source):
    agent = sign_in_client(Client(), staff("agent", is_staff=True))
    assert agent.get(reverse("admin:restore_restoretarget_changelist")).status_code == 403


def test_the_most_specific_target_applies(source):
    everyone = RestoreTarget.objects.create(name="ALL", kind="okta", directory_source=source)
    RestoreTarget.objects.create(name="HIGH", kind="entra", tier="high",
                                 directory_source=source)
    admins = RestoreTarget.objects.create(name="ADMINS", kind="keycloak",
                                          population="privileged", directory_source=source)
    RestoreTarget.objects.create(name="CONTRACTORS", kind="built_in", population="contractor")
    employee = IdentityFactory(kind="employee")
    assert target_for(employee, "low") == everyone
    assert target_for(employee, "high").name == "HIGH"
    assert target_for(IdentityFactory(kind="employee", privileged=True), "high") == admins
    assert target_for(IdentityFactory(kind="contractor"), "low") is None  # built-in
    everyone.enabled = False
    everyone.save()
    assert target_for(employee, "low") is None


def test_nothing_stalled_is_nothing_requeued():
    assert requeue_stalled() == []
