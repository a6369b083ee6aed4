"""A security admin imports the HR export in a real browser: uploads the CSV
in the admin, reads the preview, applies it and sees the run; the same with
JavaScript off."""

import pytest

from accounts.models import Identity
from recovery_console.directory.models import SyncRun
from tests.conftest import ARTIFACTS
from tests.directory.support import hr_source
from tests.factories import PASSWORD, current_totp, staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CSV = ("id,name,department,groups,type,manager,sponsor,owner,email,mobile,phone,status\n"
       "m1,Mo Manager,Finance,admins,,,,,mo@example.org,+44 7700 900001,,active\n"
       "e1,Chloé Dupont,Sales,,,m1,,,chloe@example.org,,,active\n"
       "c1,Cy Contractor,,,contractor,,m1,,cy@example.org,,,active\n")


def import_journey(page, tmp_path, screenshot: str | None = None) -> None:
    source = hr_source()
    admin = staff("security_admin", is_staff=True)
    page.goto("/accounts/sign-in/")
    page.get_by_label("Username").fill(admin.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Authenticator code").fill(current_totp(admin))
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url("**/")
    page.goto(f"/admin/directory/directorysource/{source.pk}/change/")
    page.get_by_role("link", name="Upload a CSV and preview it").click()
    upload = tmp_path / "people.csv"
    upload.write_text(CSV, encoding="utf-8")
    page.get_by_label("CSV file").set_input_files(str(upload))
    page.get_by_role("button", name="Preview").click()
    page.get_by_text("3 to create, 0 to change, 0 to deactivate").wait_for()
    assert not Identity.objects.exists()
    if screenshot:
        page.set_viewport_size({"width": 1366, "height": 900})
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / screenshot), full_page=True)
    page.get_by_role("button", name="Apply these changes").click()
    page.get_by_text("Succeeded", exact=True).wait_for()
    assert SyncRun.objects.get().status == SyncRun.Status.SUCCEEDED
    assert Identity.objects.get(directory_id="e1").manager.directory_id == "m1"


def test_security_admin_uploads_previews_and_applies_a_csv(page, tmp_path):
    import_journey(page, tmp_path, screenshot="directory-csv-preview.png")


def test_the_import_works_with_javascript_off(browser, live_server, settings, tmp_path):
    settings.WEBAUTHN_ORIGINS = [live_server.url]
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        import_journey(page, tmp_path)
    finally:
        context.close()
