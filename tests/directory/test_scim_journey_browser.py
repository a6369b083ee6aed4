"""A security admin connects a SCIM client in a real browser: creates the
directory client in the admin, sees its token once (a reload does not show
it again), a real HTTP call with that token lists the users, the admin
revokes the client, and the same call is then refused with 401 and the
SCIM error body; the same with JavaScript off."""

import json
import urllib.error
import urllib.request

import pytest

from recovery_console.directory.models import DirectoryClient
from recovery_console.directory.scim.schema import ERROR, LIST_RESPONSE
from tests.conftest import ARTIFACTS
from tests.factories import PASSWORD, current_totp, staff

from .scim_support import scim_source

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def list_users(base: str, token: str) -> tuple[int, dict, dict]:
    """``GET {base}Users`` over real HTTP, as a provisioning service sends it."""
    request = urllib.request.Request(f"{base}Users?count=5", headers={  # noqa: S310 - http://localhost
        "Authorization": f"Bearer {token}", "Accept": "application/scim+json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - http://localhost
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as refused:
        return refused.code, dict(refused.headers), json.loads(refused.read())


def scim_journey(page, live_server_url: str, screenshot: str | None = None) -> None:
    source = scim_source("Entra ID")
    admin = staff("security_admin", is_staff=True)
    page.goto("/accounts/sign-in/")
    page.get_by_label("Username").fill(admin.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Authenticator code").fill(current_totp(admin))
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url("**/")

    page.goto("/admin/directory/directoryclient/add/")
    page.get_by_label("Name").fill("Entra ID provisioning")
    page.get_by_label("Source").select_option(label=str(source))
    page.get_by_role("button", name="Save", exact=True).click()
    token = page.get_by_label("Secret token (bearer)").input_value()
    base = page.get_by_label("Tenant URL (SCIM base)").input_value()
    assert len(token) >= 32 and base == f"{live_server_url}/scim/v2/"
    if screenshot:
        page.set_viewport_size({"width": 1366, "height": 700})
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / screenshot), full_page=True)
    client = DirectoryClient.objects.get()

    # Once: not on a reload, nor anywhere else in the admin.
    # The browser sends the form again: the name is taken, no second client, no token.
    page.reload()
    page.get_by_text("Directory client with this Name already exists.").wait_for()
    assert token not in page.content()
    page.goto(f"/admin/directory/directoryclient/{client.pk}/change/")
    assert token not in page.content()
    assert DirectoryClient.objects.count() == 1

    status, _headers, body = list_users(base, token)
    assert status == 200
    assert (body["schemas"], body["totalResults"]) == ([LIST_RESPONSE], 0)

    page.goto("/admin/directory/directoryclient/")
    page.get_by_role("row", name="Entra ID provisioning").get_by_role("checkbox").check()
    page.get_by_label("Action:").select_option(label="Revoke the selected clients' tokens")
    page.get_by_role("button", name="Go").click()
    page.get_by_text("Revoked 1 client(s).").wait_for()
    client.refresh_from_db()
    assert client.revoked_by == admin

    status, headers, body = list_users(base, token)
    assert status == 401
    assert headers["Content-Type"] == "application/scim+json"
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert body["schemas"] == [ERROR] and body["status"] == "401" and body["detail"]


def test_security_admin_creates_a_scim_client_uses_its_token_once_and_revokes_it(
        page, live_server):
    scim_journey(page, live_server.url, screenshot="directory-scim-token.png")


def test_the_scim_client_journey_works_with_javascript_off(browser, live_server, settings):
    settings.WEBAUTHN_ORIGINS = [live_server.url]
    settings.SITE_URL = live_server.url
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        scim_journey(page, live_server.url)
    finally:
        context.close()
