"""SCIM Users through HTTP, as the clients people connect send them: Entra
ID's provisioning (its validator's sequence, ops in any case, booleans as
strings, PATCH paths with filters and the enterprise manager), Okta's (PUT
replaces the whole user), and a generic client (POST, GET, list, DELETE).
Every write goes through the directory workflow, as a run of the source."""

import pytest

from accounts.models import Identity, PasskeyCredential, RecoveryChannel
from recovery_console.directory.models import ScimUser, SyncRun
from recovery_console.directory.scim.schema import CORE, ENTERPRISE
from tests.recovery.support import events

from .scim_support import client_for, scim_source, user_body

pytestmark = pytest.mark.django_db
MANAGER = f"{ENTERPRISE}:manager"


@pytest.fixture
def source():
    return scim_source()


@pytest.fixture
def scim(source):
    return client_for(source)[0]


def create(scim, user_name: str, **fields) -> dict:
    response = scim.post("Users", user_body(user_name, **fields))
    assert response.status_code == 201, response.content
    return response.json()


def test_entra_validator_sequence_creates_reads_patches_and_deprovisions(scim, source):
    # 1. Is the user there already? (userName eq, Entra's matching attribute)
    response = scim.get("Users", filter='userName eq "ada@contoso.com"')
    assert response.status_code == 200
    assert response["Content-Type"] == "application/scim+json"
    assert response.json()["totalResults"] == 0
    assert response.json()["Resources"] == []
    # 2. Create it.
    created = scim.post("Users", user_body("ada@contoso.com"))
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["meta"]["resourceType"] == "User"
    assert created["Location"] == body["meta"]["location"]
    assert body["meta"]["location"].endswith(f"/scim/v2/Users/{body['id']}")
    identity = Identity.objects.get(directory_id="ada@contoso.com")
    assert (identity.directory_source, identity.external_id) == (source, body["id"])
    assert (identity.display_name, identity.department) == ("Ada Lovelace", "Research")
    assert identity.channels.get(kind="email").address == "ada@contoso.com"
    # 3. Read it back, by id and by filter (case-insensitive userName).
    fetched = scim.get(f"Users/{body['id']}").json()
    assert fetched["userName"] == "ada@contoso.com"
    assert fetched["name"]["givenName"] == "Ada"
    assert fetched[ENTERPRISE]["employeeNumber"] == "1001"
    found = scim.get("Users", filter='userName eq "ADA@contoso.com"').json()
    assert [r["id"] for r in found["Resources"]] == [body["id"]]
    # 4. PATCH "Replace" (Entra's capitalised op) of attributes by path.
    response = scim.patch(f"Users/{body['id']}",
                          {"op": "Replace", "path": "displayName", "value": "Ada King"},
                          {"op": "Replace", "path": "name.givenName", "value": "Augusta"},
                          {"op": "Replace", "path": 'emails[type eq "work"].value',
                           "value": "ada.king@contoso.com"},
                          {"op": "Add", "path": f"{ENTERPRISE}:department",
                           "value": "Analytical Engines"})
    assert response.status_code == 200, response.content
    patched = response.json()
    assert patched["name"] == {"givenName": "Augusta", "familyName": "Lovelace",
                               "formatted": "Ada Lovelace"}
    assert patched["emails"] == [{"primary": True, "type": "work",
                                  "value": "ada.king@contoso.com"}]
    identity.refresh_from_db()
    assert (identity.display_name, identity.department) == ("Ada King", "Analytical Engines")
    email = identity.channels.get(kind="email", revoked_at__isnull=True)
    assert email.address == "ada.king@contoso.com"
    # 5. PATCH active "False" (a string, as Entra sends it): deprovisioned.
    response = scim.patch(f"Users/{body['id']}",
                          {"op": "Replace", "path": "active", "value": "False"})
    assert response.status_code == 200, response.content
    assert response.json()["active"] is False
    identity.refresh_from_db()
    assert not identity.is_active
    assert not identity.channels.filter(revoked_at__isnull=True).exists()
    deactivated = events("directory_identity_deactivated").get()
    assert deactivated.additional_data["reason"] == "disabled"
    assert deactivated.additional_data["source"] == source.pk
    assert SyncRun.objects.filter(source=source, status="succeeded").count() == 3


def test_entra_patch_without_path_and_string_true_reactivates(scim):
    user = create(scim, "bo@contoso.com", active="False")
    assert user["active"] is False
    assert not Identity.objects.exists()  # never active: nothing to provision yet
    response = scim.patch(f"Users/{user['id']}", {"op": "replace", "value": {"active": "True"}})
    assert response.status_code == 200, response.content
    assert Identity.objects.get(directory_id="bo@contoso.com").is_active


def test_entra_sets_and_removes_the_manager_by_its_scim_id(scim):
    boss = create(scim, "boss@contoso.com", given="Grace", family="Hopper")
    report = create(scim, "rep@contoso.com")
    response = scim.patch(f"Users/{report['id']}",
                          {"op": "Add", "path": MANAGER, "value": boss["id"]})
    assert response.status_code == 200, response.content
    assert response.json()[ENTERPRISE]["manager"] == {"value": boss["id"]}
    identity = Identity.objects.get(directory_id="rep@contoso.com")
    assert identity.manager.directory_id == "boss@contoso.com"
    scim.patch(f"Users/{report['id']}", {"op": "Remove", "path": MANAGER})
    identity.refresh_from_db()
    assert identity.manager is None
    assert "manager" not in scim.get(f"Users/{report['id']}").json()[ENTERPRISE]


def test_patch_that_changes_nothing_makes_no_run(scim):
    user = create(scim, "cy@contoso.com")
    runs = SyncRun.objects.count()
    response = scim.patch(f"Users/{user['id']}",
                          {"op": "replace", "path": "displayName", "value": "Ada Lovelace"})
    assert response.status_code == 200
    assert SyncRun.objects.count() == runs


def test_patch_remove_of_an_email_by_filter_removes_the_directory_channel(scim):
    user = create(scim, "dee@contoso.com")
    response = scim.patch(f"Users/{user['id']}",
                          {"op": "remove", "path": 'emails[type eq "work"]'})
    assert response.status_code == 200, response.content
    assert "emails" not in response.json()
    identity = Identity.objects.get(directory_id="dee@contoso.com")
    assert not identity.channels.filter(revoked_at__isnull=True).exists()


def test_okta_put_replaces_the_whole_user(scim):
    user = create(scim, "eve@example.com", manager="")
    replacement = user_body("eve@example.com", given="Eve", family="Moneypenny",
                            email="eve.m@example.com", userType="Contractor")
    del replacement[ENTERPRISE]  # no longer sent: department and employee number unassigned
    response = scim.put(f"Users/{user['id']}", replacement)
    assert response.status_code == 200, response.content
    body = response.json()
    assert ENTERPRISE not in body
    assert body["schemas"] == [CORE]
    assert body["meta"]["version"] == 'W/"2"'
    identity = Identity.objects.get(directory_id="eve@example.com")
    assert (identity.display_name, identity.department, identity.kind) == (
        "Eve Moneypenny", "", "contractor")
    assert events("directory_identity_changed").get().additional_data["moved"] is True
    # Okta deactivates with a PUT carrying active false.
    response = scim.put(f"Users/{user['id']}", {**replacement, "active": False})
    assert response.status_code == 200
    identity.refresh_from_db()
    assert not identity.is_active


def test_delete_deprovisions_and_revokes_and_the_user_is_gone(scim, source):
    user = create(scim, "fay@example.com")
    identity = Identity.objects.get(directory_id="fay@example.com")
    passkey = PasskeyCredential.objects.create(
        user=identity.user, credential_id=b"fay-key", public_key=b"k", sign_count=0,
        confirmed=True)
    response = scim.delete(f"Users/{user['id']}")
    assert response.status_code == 204
    identity.refresh_from_db()
    passkey.refresh_from_db()
    assert not identity.is_active and not identity.user.is_active
    assert passkey.revoked_at is not None
    assert not RecoveryChannel.objects.filter(identity=identity, revoked_at__isnull=True).exists()
    entry = events("directory_identity_deactivated").get()
    assert (entry.additional_data["reason"], entry.additional_data["source"]) == (
        "deleted", source.pk)
    assert entry.additional_data["run"] == SyncRun.objects.latest("pk").pk
    assert scim.get(f"Users/{user['id']}").status_code == 404
    assert scim.get("Users", filter='userName eq "fay@example.com"').json()["totalResults"] == 0
    assert ScimUser.objects.get().deleted_at is not None


def test_generic_client_lists_with_paging_and_filters(scim):
    ids = [create(scim, f"user{n}@example.com", externalId=f"E{n}")["id"] for n in range(5)]
    page = scim.get("Users", startIndex=2, count=2).json()
    assert (page["totalResults"], page["itemsPerPage"], page["startIndex"]) == (5, 2, 2)
    assert [r["id"] for r in page["Resources"]] == ids[1:3]
    assert scim.get("Users", count=0).json()["Resources"] == []
    by_external = scim.get("Users", filter='externalId eq "E3"').json()
    assert [r["id"] for r in by_external["Resources"]] == [ids[3]]
    by_id = scim.get("Users", filter=f'id eq "{ids[4]}"').json()
    assert [r["id"] for r in by_id["Resources"]] == [ids[4]]
    either = scim.get("Users", filter='externalId eq "E0" or (userName eq "user1@example.com" '
                                      'and active eq true)').json()
    assert sorted(r["id"] for r in either["Resources"]) == sorted(ids[:2])
    none = scim.get("Users", filter='userName eq "user1@example.com" and externalId eq "E0"')
    assert none.json()["totalResults"] == 0
    assert scim.get("Users", filter='userName sw "USER"').json()["totalResults"] == 5
    assert scim.get("Users", filter='not (externalId eq "E0")').json()["totalResults"] == 4


def test_list_costs_the_same_queries_for_many_users(scim, django_assert_max_num_queries):
    # The client by its token, the count, the page, its groups, the audit entry, last used.
    for n in range(3):
        create(scim, f"few{n}@example.com")
    with django_assert_max_num_queries(6):
        assert len(scim.get("Users", count=50).json()["Resources"]) == 3
    for n in range(30):
        create(scim, f"many{n}@example.com")
    with django_assert_max_num_queries(6):
        response = scim.get("Users", count=50, filter='userName sw "many"')
        assert len(response.json()["Resources"]) == 30


def test_every_call_is_audited_with_the_client(scim, source):
    create(scim, "gus@example.com")
    scim.get("Users")
    entries = events("scim_request").order_by("pk")
    assert [(e.additional_data["method"], e.additional_data["status"]) for e in entries] == [
        ("POST", 201), ("GET", 200)]
    assert entries[0].additional_data["source"] == source.pk
    written = events("scim_user_written").get()
    assert written.additional_data["created"] is True


def test_a_write_costs_the_same_however_many_people_the_source_has(scim):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def patch_cost(user_id: str, title: str) -> int:
        with CaptureQueriesContext(connection) as queries:
            response = scim.patch(f"Users/{user_id}",
                                  {"op": "replace", "path": "displayName", "value": title})
            assert response.status_code == 200
        return len(queries)

    first = create(scim, "first@example.com")["id"]
    few = patch_cost(first, "Few")
    for n in range(25):
        create(scim, f"crowd{n}@example.com")
    assert patch_cost(first, "Many") == few


def test_a_list_costs_the_same_queries_on_every_page_filter_and_size(scim):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def cost(**params) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert scim.get("Users", **params).status_code == 200
        return len(queries)

    create(scim, "seed0@example.com")
    first = cost(count=10)
    for n in range(1, 30):
        create(scim, f"seed{n}@example.com", active=n % 3 != 0)
    assert {cost(count=10), cost(startIndex=21, count=10), cost(startIndex=28, count=10),
            cost(filter="active eq true", startIndex=11, count=10),
            cost(filter='userName sw "seed1"', count=5),
            cost(filter='userName eq "seed7@example.com"')} == {first}


def test_okta_documented_bodies_with_groups_password_id_and_meta_are_accepted(scim):
    # The bodies of Okta's "Okta and SCIM Version 2.0" reference, as sent.
    created = scim.post("Users", {
        "schemas": [CORE], "userName": "test.user@okta.local",
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
        "displayName": "Test User", "locale": "en-US", "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [], "password": "1mz050nq", "active": True})
    assert created.status_code == 201, created.content
    user = created.json()
    assert "password" not in user and "groups" not in user
    assert "1mz050nq" not in str(ScimUser.objects.get().resource)
    replaced = {
        "schemas": [CORE], "id": user["id"], "userName": "test.user@okta.local",
        "name": {"givenName": "Another", "middleName": "Excited", "familyName": "User"},
        "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work",
                    "display": "test.user@okta.local"}],
        "active": True, "groups": [], "meta": {"resourceType": "User"}}
    response = scim.put(f"Users/{user['id']}", replaced)
    assert response.status_code == 200, response.content
    assert response.json()["name"]["middleName"] == "Excited"
    # An app made with Okta's wizard deactivates with a PUT as well.
    response = scim.put(f"Users/{user['id']}", {**replaced, "active": False})
    assert response.status_code == 200
    assert not Identity.objects.get(directory_id="test.user@okta.local").is_active


def test_entra_compliance_flag_in_the_tenant_url_changes_nothing(scim):
    user = create(scim, "flag@contoso.com")
    url = f"Users/{user['id']}?aadOptscim062020"
    response = scim.patch(url, {"op": "replace", "value": {
        "displayName": "Flag Bearer", "name.givenName": "Flag",
        f"{ENTERPRISE}:employeeNumber": "7"}},
        {"op": "replace", "path": "active", "value": False})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["displayName"], body["name"]["givenName"], body["active"]) == (
        "Flag Bearer", "Flag", False)
    assert body[ENTERPRISE]["employeeNumber"] == "7"
    assert scim.get("Users?aadOptscim062020", filter='userName eq "flag@contoso.com"'
                    ).json()["totalResults"] == 1


def test_active_filter_follows_every_kind_of_write(scim):
    ann, bob = create(scim, "ann@example.com")["id"], create(scim, "bob@example.com")["id"]
    scim.patch(f"Users/{ann}", {"op": "Replace", "path": "active", "value": "False"})
    scim.put(f"Users/{bob}", user_body("bob@example.com", active=False))

    def found(text: str) -> list[str]:
        return [r["userName"] for r in scim.get("Users", filter=text).json()["Resources"]]

    assert found("active eq false") == ["ann@example.com", "bob@example.com"]
    assert found("active eq true") == []
    scim.patch(f"Users/{bob}", {"op": "replace", "value": {"active": True}})
    assert found("active eq true") == found("active ne false") == ["bob@example.com"]
