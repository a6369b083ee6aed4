"""Every refusal answers as RFC 7644 §3.12 says (the Error schema, the
status as a string, ``scimType`` where one applies, a detail a person can
act on) and writes nothing: no identity, no SCIM user, no change."""

import pytest
from django.test import override_settings

from accounts.models import Identity
from recovery_console.directory.models import ScimUser, SyncRun
from recovery_console.directory.scim.schema import ENTERPRISE, ERROR
from tests.factories import IdentityFactory

from .scim_support import client_for, scim_source, user_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def source():
    return scim_source()


@pytest.fixture
def scim(source):
    return client_for(source)[0]


def assert_error(response, status: int, scim_type: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/scim+json"
    body = response.json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    assert body["detail"]
    if scim_type is None:
        assert "scimType" not in body
    else:
        assert body["scimType"] == scim_type
    return body


def snapshot() -> tuple:
    return (list(Identity.objects.values()), list(ScimUser.objects.values()),
            SyncRun.objects.count())


@pytest.fixture
def existing(scim):
    response = scim.post("Users", user_body("ann@example.com"))
    assert response.status_code == 201
    return response.json()


def test_malformed_json_is_invalid_syntax(scim, existing):
    before = snapshot()
    assert_error(scim.post("Users", '{"userName": "x@example.com",'), 400, "invalidSyntax")
    assert_error(scim.put(f"Users/{existing['id']}", "[1, 2"), 400, "invalidSyntax")
    assert_error(scim.post("Users", b"\xff\xfe"), 400, "invalidSyntax")
    assert snapshot() == before


def test_unknown_attribute_is_invalid_value_and_writes_nothing(scim, existing):
    before = snapshot()
    body = assert_error(scim.post("Users", user_body("bo@example.com", shoeSize="44")), 400,
                        "invalidValue")
    assert "shoeSize" in body["detail"]
    assert_error(scim.post("Users", user_body("bo@example.com", name={"nick": "B"})), 400,
                 "invalidValue")
    assert_error(scim.put(f"Users/{existing['id']}",
                          user_body("ann@example.com", **{ENTERPRISE: {"badge": "1"}})),
                 400, "invalidValue")
    assert snapshot() == before


def test_patch_to_an_unknown_path_is_invalid_path_and_applies_no_operation(scim, existing):
    before = snapshot()
    response = scim.patch(f"Users/{existing['id']}",
                          {"op": "replace", "path": "displayName", "value": "Changed"},
                          {"op": "replace", "path": "shoeSize", "value": "44"})
    assert_error(response, 400, "invalidPath")
    assert_error(scim.patch(f"Users/{existing['id']}",
                            {"op": "replace", "path": "name.nick", "value": "x"}),
                 400, "invalidPath")
    assert snapshot() == before
    assert scim.get(f"Users/{existing['id']}").json()["displayName"] == "Ada Lovelace"


def test_bad_patch_bodies_are_refused(scim, existing):
    before = snapshot()
    url = f"Users/{existing['id']}"
    assert_error(scim.patch(url, {"op": "jump", "path": "title", "value": "x"}), 400,
                 "invalidSyntax")
    assert_error(scim.patch(url, {"op": "remove"}), 400, "noTarget")
    assert_error(scim.patch(url, {"op": "replace", "path": "active", "value": "maybe"}), 400,
                 "invalidValue")
    assert_error(scim.patch(url, {"op": "replace", "path": "groups", "value": []}), 400,
                 "mutability")
    assert_error(scim._send("PATCH", url, {"Operations": []}), 400, "invalidSyntax")
    assert snapshot() == before


def test_values_the_console_cannot_store_are_invalid_value(scim, existing):
    before = snapshot()
    body = assert_error(scim.post("Users", user_body("bad@example.com", email="not-an-email")),
                        400, "invalidValue")
    assert "email" in body["detail"]
    assert_error(scim.post("Users", user_body("x" * 70)), 400, "invalidValue")
    assert_error(scim.post("Users", {"schemas": [ENTERPRISE]}), 400, "invalidValue")
    assert snapshot() == before


def test_user_name_taken_is_a_uniqueness_conflict(scim, existing, source):
    before = snapshot()
    assert_error(scim.post("Users", user_body("ANN@example.com")), 409, "uniqueness")
    other = scim.post("Users", user_body("cat@example.com")).json()
    before = snapshot()
    assert_error(scim.put(f"Users/{other['id']}", user_body("ann@example.com")), 409,
                 "uniqueness")
    assert snapshot() == before
    # An identity another source manages holds the identifier too.
    elsewhere = scim_source("Okta")
    IdentityFactory(directory_id="dan@example.com", directory_source=elsewhere,
                    external_id="okta-1")
    before = snapshot()
    assert_error(scim.post("Users", user_body("dan@example.com")), 409, "uniqueness")
    assert snapshot() == before


def test_a_person_typed_in_the_console_is_taken_over_not_duplicated(scim, source):
    typed = IdentityFactory(directory_id="eli@example.com")
    response = scim.post("Users", user_body("eli@example.com"))
    assert response.status_code == 201, response.content
    typed.refresh_from_db()
    assert (typed.directory_source, typed.external_id) == (source, response.json()["id"])


@override_settings(SCIM_MAX_BODY_BYTES=2000)
def test_an_oversized_body_is_413(scim, existing):
    before = snapshot()
    big = user_body("fat@example.com", title="x" * 3000)
    assert_error(scim.post("Users", big), 413)
    assert snapshot() == before


def test_a_wrong_content_type_is_415(scim):
    before = snapshot()
    assert_error(scim.post("Users", "userName=x", content_type="application/x-www-form-urlencoded"),
                 415)
    assert snapshot() == before


@pytest.mark.parametrize("text", [
    'userName eq', 'userName xx "a"', 'shoeSize eq "44"', 'userName eq "a" and foo eq "b"',
    'emails[type eq "work"].value eq "a@b"', 'userName gt "a"', 'name.givenName eq "Ada"',
    '(userName eq "a"',
])
def test_bad_or_unknown_filters_are_invalid_filter(scim, existing, text):
    assert_error(scim.get("Users", filter=text), 400, "invalidFilter")


def test_unknown_user_and_bad_paging_values(scim):
    assert_error(scim.get("Users/00000000-0000-0000-0000-000000000000"), 404)
    assert_error(scim.get("Users/not-a-uuid"), 404)
    assert_error(scim.get("Users", startIndex="one"), 400, "invalidValue")
    assert_error(scim.delete("Users/00000000-0000-0000-0000-000000000000"), 404)


def test_a_method_the_endpoint_does_not_take_is_405(scim):
    assert assert_error(scim._send("PATCH", "Users", {}), 405)
    assert scim._send("PATCH", "Users", {})["Allow"] == "GET, POST"
    assert_error(scim._send("POST", "ServiceProviderConfig", {}), 405)


def test_a_write_based_on_a_stale_copy_is_refused_not_merged(scim, existing, source):
    from recovery_console import workflow
    from recovery_console.directory.models import DirectoryClient
    from recovery_console.refusal import WorkflowError

    stale = ScimUser.objects.get()
    response = scim.patch(f"Users/{existing['id']}",
                          {"op": "replace", "path": "title", "value": "Countess"})
    assert response.status_code == 200
    before = snapshot()[:2]
    with pytest.raises(WorkflowError) as refused:
        workflow.provision_scim_user(DirectoryClient.objects.get(), stale,
                                     {**stale.resource, "displayName": "Stale"})
    assert (refused.value.reason, refused.value.status) == ("stale_user", 409)
    assert snapshot()[:2] == before
    assert SyncRun.objects.latest("pk").status == "failed"
