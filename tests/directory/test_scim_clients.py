"""Who may call ``/scim/v2/``: a directory client with its bearer token,
created by a security admin in the admin and shown once (kept as a keyed
hash), revocable, limited to its own source, rate limited; every call,
refused or not, audited. And what the discovery endpoints say."""

import pytest
from django.test import Client, override_settings

from accounts.models import Identity
from recovery_console import tokens
from recovery_console.directory.models import DirectoryClient, ScimUser
from recovery_console.directory.scim.schema import CORE, ENTERPRISE, ERROR, GROUP
from tests.factories import staff
from tests.recovery.support import events
from tests.sessions import sign_in_client

from .scim_support import ScimClient, client_for, scim_source, user_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def source():
    return scim_source()


def assert_unauthorised(response):
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["schemas"] == [ERROR]
    assert response.json()["status"] == "401"


@pytest.mark.parametrize("token", [None, "not-a-token", "scim_forged"])
def test_a_missing_or_unknown_token_is_401_and_changes_nothing(source, token):
    scim = ScimClient(token)
    for response in (scim.get("Users"), scim.post("Users", user_body("a@example.com")),
                     scim.get("ServiceProviderConfig")):
        assert_unauthorised(response)
    assert not ScimUser.objects.exists() and not Identity.objects.exists()


def test_a_basic_auth_header_is_not_a_bearer_token(source):
    _scim, _client = client_for(source)
    response = Client().get("/scim/v2/Users", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert_unauthorised(response)


def test_a_revoked_token_is_refused_from_the_next_call(source):
    scim, directory_client = client_for(source)
    assert scim.get("Users").status_code == 200
    admin = staff("security_admin", is_staff=True)
    from recovery_console import workflow

    workflow.revoke_directory_client(directory_client, admin)
    assert_unauthorised(scim.get("Users"))
    assert_unauthorised(scim.post("Users", user_body("b@example.com")))
    assert not ScimUser.objects.exists()
    assert events("directory_client_revoked").get().actor == admin
    refused = events("scim_request_refused").order_by("pk")
    assert [(e.additional_data["method"], e.additional_data["status"]) for e in refused] == [
        ("GET", 401), ("POST", 401)]
    assert refused[0].additional_data["client"] == directory_client.pk


def test_a_client_sees_and_changes_only_its_own_source(source):
    mine, _ = client_for(source)
    theirs, _ = client_for(scim_source("Okta"), "okta")
    user = mine.post("Users", user_body("c@example.com")).json()
    url = f"Users/{user['id']}"
    assert theirs.get(url).status_code == 404
    assert theirs.get("Users").json()["totalResults"] == 0
    assert theirs.get("Users", filter='userName eq "c@example.com"').json()["totalResults"] == 0
    assert theirs.patch(url, {"op": "replace", "path": "active", "value": False}
                        ).status_code == 404
    assert theirs.put(url, user_body("c@example.com")).status_code == 404
    assert theirs.delete(url).status_code == 404
    assert Identity.objects.get(directory_id="c@example.com").is_active
    assert mine.get(url).status_code == 200


@override_settings(RATE_LIMIT_SCIM_REQUESTS_PER_CLIENT=3)
def test_a_client_over_its_rate_limit_is_429(source):
    scim, _ = client_for(source)
    assert [scim.get("Users").status_code for _ in range(4)] == [200, 200, 200, 429]
    response = scim.post("Users", user_body("d@example.com"))
    assert response.status_code == 429
    assert response.json()["status"] == "429" and response["Retry-After"]
    assert not ScimUser.objects.exists()
    other, _ = client_for(scim_source("Okta"), "okta")
    assert other.get("Users").status_code == 200  # each client has its own budget


def test_the_token_is_kept_only_as_a_keyed_hash_and_last_use_recorded(source):
    scim, directory_client = client_for(source)
    token = scim.headers["Authorization"].removeprefix("Bearer ")
    directory_client.refresh_from_db()
    assert directory_client.token_digest == tokens.digest("directory-client", token)
    assert token not in str(list(DirectoryClient.objects.values()))
    assert directory_client.last_used_at is None
    scim.get("Users")
    directory_client.refresh_from_db()
    assert directory_client.last_used_at is not None


def test_a_security_admin_creates_a_client_in_the_admin_and_sees_the_token_once(source):
    admin = sign_in_client(Client(), staff("security_admin", is_staff=True))
    response = admin.post("/admin/directory/directoryclient/add/",
                          {"name": "Entra ID provisioning", "source": source.pk})
    assert response.status_code == 200, response.content.decode()[:2000]
    assert "no-store" in response["Cache-Control"]
    token = response.context["token"]
    assert token in response.content.decode()
    client = DirectoryClient.objects.get()
    assert client.token_digest == tokens.digest("directory-client", token)
    assert ScimClient(token).get("Users").status_code == 200
    page = admin.get(f"/admin/directory/directoryclient/{client.pk}/change/").content.decode()
    assert token not in page
    # Revoked from the list's action.
    response = admin.post("/admin/directory/directoryclient/",
                          {"action": "revoke", "_selected_action": [client.pk]})
    assert response.status_code == 302
    assert_unauthorised(ScimClient(token).get("Users"))


def test_a_client_cannot_be_made_for_a_csv_source():
    admin = sign_in_client(Client(), staff("security_admin", is_staff=True))
    csv = scim_source("HR file")
    csv.kind = "csv"
    csv.save()
    response = admin.post("/admin/directory/directoryclient/add/",
                          {"name": "wrong", "source": csv.pk})
    assert response.status_code == 200  # the form again: not a choice
    assert not DirectoryClient.objects.exists()


def test_discovery_describes_what_is_supported(source):
    scim, _ = client_for(source)
    config = scim.get("ServiceProviderConfig")
    assert config["Content-Type"] == "application/scim+json"
    body = config.json()
    assert body["patch"]["supported"] and body["filter"]["supported"]
    assert not body["bulk"]["supported"]
    assert body["etag"]["supported"]
    assert body["authenticationSchemes"][0]["type"] == "oauthbearertoken"
    assert body["meta"]["resourceType"] == "ServiceProviderConfig"
    types = scim.get("ResourceTypes").json()
    assert [t["id"] for t in types["Resources"]] == ["User", "Group"]
    assert types["Resources"][0]["schemaExtensions"] == [{"schema": ENTERPRISE,
                                                           "required": False}]
    assert scim.get("ResourceTypes/User").json()["endpoint"] == "/Users"
    assert scim.get("ResourceTypes/Group").json()["endpoint"] == "/Groups"
    assert scim.get("ResourceTypes/Device").status_code == 404
    schemas = scim.get("Schemas").json()
    assert [s["id"] for s in schemas["Resources"]] == [CORE, ENTERPRISE, GROUP]
    enterprise = scim.get(f"Schemas/{ENTERPRISE}").json()
    names = [a["name"] for a in enterprise["attributes"]]
    assert {"manager", "department", "employeeNumber"} <= set(names)
    core = scim.get(f"Schemas/{CORE}").json()
    user_name = next(a for a in core["attributes"] if a["name"] == "userName")
    assert (user_name["required"], user_name["uniqueness"]) == (True, "server")
    assert scim.get("Schemas/urn:nothing").status_code == 404


def test_a_scim_source_added_from_the_admin_starts_from_the_scim_mapping():
    admin = sign_in_client(Client(), staff("security_admin", is_staff=True))
    page = admin.get("/admin/directory/directorysource/add/?kind=scim").content.decode()
    assert 'name="identifier_attribute" value="userName"' in page
    assert 'name="enabled_attribute" value="active"' in page


def test_scim_needs_no_csrf_token_but_the_admin_still_does(source):
    scim, _ = client_for(source)
    scim.client = Client(enforce_csrf_checks=True)
    assert scim.post("Users", user_body("g@example.com")).status_code == 201
    admin = sign_in_client(Client(enforce_csrf_checks=True), staff("security_admin",
                                                                  is_staff=True))
    response = admin.post("/admin/directory/directoryclient/add/",
                          {"name": "no token", "source": source.pk})
    assert response.status_code == 403
    assert not DirectoryClient.objects.filter(name="no token").exists()
