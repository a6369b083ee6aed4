"""A security admin connects the console to an LDAP directory in a real
browser: configures the source in the admin (the password only by the name
of its environment variable), previews a full pass read from a real slapd,
applies it, and sees the run with its counts; the same with JavaScript off."""

import pytest

from accounts.models import Identity
from recovery_console.directory.models import DirectorySource, SyncRun
from tests.conftest import ARTIFACTS
from tests.factories import PASSWORD, current_totp, staff

from .conftest import PASSWORD_ENV
from .people import READER_DN, READER_PASSWORD, SUFFIX

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SETTINGS = {
    "name": "Corporate LDAP", "ldap_bind_dn": READER_DN, "ldap_password_env": PASSWORD_ENV,
    "ldap_base_dn": SUFFIX, "ldap_filter": "(objectClass=inetOrgPerson)",
    "ldap_page_size": "50", "ldap_receive_timeout": "10",
    "identifier_attribute": "uid", "external_id_attribute": "entryUUID",
    "display_name_attribute": "cn", "department_attribute": "departmentNumber",
    "groups_attribute": "memberOf", "manager_attribute": "manager", "sponsor_attribute": "",
    "owner_attribute": "manager", "email_attribute": "mail", "phone_attribute": "",
    "callback_phone_attribute": "telephoneNumber",
    "enabled_attribute": "pwdAccountLockedTime", "disabled_values": "000001010000Z",
}


def ldap_journey(page, slapd, organisation, screenshot: str | None = None) -> None:
    admin = staff("security_admin", is_staff=True)
    page.goto("/accounts/sign-in/")
    page.get_by_label("Username").fill(admin.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Authenticator code").fill(current_totp(admin))
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url("**/")

    page.goto("/admin/directory/directorysource/add/")
    page.locator("#id_kind").select_option("ldap")
    page.locator("#id_ldap_url").fill(slapd.url)
    page.locator("#id_ldap_tls").select_option("none")
    for field, value in SETTINGS.items():
        page.locator(f"#id_{field}").fill(value)
    page.get_by_role("button", name="Save and continue editing").click()
    page.get_by_role("link", name="Sync now, or preview a full pass").click()
    source = DirectorySource.objects.get()
    assert source.ldap_password_env == PASSWORD_ENV

    page.get_by_role("button", name="Preview a full pass").click()
    people = sum(not p.disabled for p in organisation.people)
    page.get_by_text(f"{people} to create, 0 to change, 0 to deactivate").wait_for()
    assert not Identity.objects.exists()
    page.get_by_role("button", name="Apply these changes").click()
    page.get_by_text("Succeeded", exact=True).wait_for()
    run = SyncRun.objects.get()
    assert (run.status, run.created) == (SyncRun.Status.SUCCEEDED, people)

    page.goto(f"/admin/directory/directorysource/{source.pk}/sync/")
    row = page.get_by_role("row", name=f"Run {run.pk}")
    assert "Succeeded" in row.inner_text() and str(people) in row.inner_text()
    if screenshot:
        page.set_viewport_size({"width": 1366, "height": 900})
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / screenshot), full_page=True)
    assert Identity.objects.filter(directory_source=source).count() == people


def test_security_admin_configures_an_ldap_source_previews_and_applies_a_sync(
        page, slapd, organisation, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, READER_PASSWORD)
    ldap_journey(page, slapd, organisation, screenshot="directory-ldap-run.png")


def test_the_ldap_journey_works_with_javascript_off(browser, live_server, settings, slapd,
                                                    organisation, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, READER_PASSWORD)
    settings.WEBAUTHN_ORIGINS = [live_server.url]
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        ldap_journey(page, slapd, organisation)
    finally:
        context.close()
