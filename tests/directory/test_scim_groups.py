"""SCIM Groups: membership feeds the source's group rules. Joining the
``admins`` group makes a person privileged, leaving it (Entra ID's remove by
value, Okta's remove by filter, a PUT without them, the group deleted or
renamed) makes them not, each through the directory workflow as a run."""

import pytest

from accounts.models import Identity
from recovery_console.directory.models import MappingRule, ScimGroup, SyncRun
from recovery_console.directory.scim.schema import GROUP

from .scim_support import client_for, scim_source, user_body
from .test_scim_errors import assert_error, snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def source():
    source = scim_source()
    MappingRule.objects.create(source=source, position=1, field="privileged",
                               match_on="group", value="admins")
    return source


@pytest.fixture
def scim(source):
    return client_for(source)[0]


@pytest.fixture
def people(scim):
    return [scim.post("Users", user_body(f"{name}@example.com")).json()["id"]
            for name in ("ann", "bob", "cat")]


def privileged() -> set[str]:
    return set(Identity.objects.filter(privileged=True).values_list("directory_id", flat=True))


def group_body(name: str, *members: str, **extra) -> dict:
    return {"schemas": [GROUP], "displayName": name,
            "members": [{"value": member} for member in members], **extra}


def test_entra_group_flow_membership_makes_and_unmakes_privileged(scim, people):
    ann, bob, cat = people
    assert scim.get("Groups", filter='displayName eq "Admins"').json()["totalResults"] == 0
    created = scim.post("Groups", group_body("admins", ann, externalId="g-1"))
    assert created.status_code == 201, created.content
    group = created.json()
    assert group["meta"]["resourceType"] == "Group"
    assert [m["value"] for m in group["members"]] == [ann]
    assert privileged() == {"ann@example.com"}
    url = f"Groups/{group['id']}"
    response = scim.patch(url, {"op": "Add", "path": "members",
                                "value": [{"value": bob}, {"value": cat}]})
    assert response.status_code == 200, response.content
    assert privileged() == {"ann@example.com", "bob@example.com", "cat@example.com"}
    # Entra ID removes members by value on the path "members".
    response = scim.patch(url, {"op": "Remove", "path": "members", "value": [{"value": ann}]})
    assert response.status_code == 200, response.content
    assert privileged() == {"bob@example.com", "cat@example.com"}
    # Okta removes by a filter on the path.
    response = scim.patch(url, {"op": "remove", "path": f'members[value eq "{bob}"]'})
    assert response.status_code == 200, response.content
    assert privileged() == {"cat@example.com"}
    without = scim.get(url, excludedAttributes="members").json()
    assert "members" not in without and without["displayName"] == "admins"
    assert scim.get(f"Users/{cat}").status_code == 200
    assert SyncRun.objects.filter(status="failed").count() == 0


def test_renaming_or_deleting_the_group_takes_the_rule_away(scim, people):
    ann, bob, cat = people
    group = scim.post("Groups", group_body("admins", ann, bob)).json()
    url = f"Groups/{group['id']}"
    # Okta renames with a replace without a path.
    response = scim.patch(url, {"op": "replace", "value": {"id": group["id"],
                                                           "displayName": "former admins"}})
    assert response.status_code == 200, response.content
    assert privileged() == set()
    scim.patch(url, {"op": "replace", "path": "displayName", "value": "Admins"})
    assert privileged() == {"ann@example.com", "bob@example.com"}
    assert scim.delete(url).status_code == 204
    assert privileged() == set()
    assert scim.get(url).status_code == 404
    assert ScimGroup.objects.get().deleted_at is not None


def test_put_replaces_the_members(scim, people):
    ann, bob, cat = people
    group = scim.post("Groups", group_body("admins", ann, bob)).json()
    response = scim.put(f"Groups/{group['id']}", group_body("admins", cat))
    assert response.status_code == 200, response.content
    assert [m["value"] for m in response.json()["members"]] == [cat]
    assert privileged() == {"cat@example.com"}


def test_a_user_written_later_keeps_their_groups(scim, people):
    ann = people[0]
    scim.post("Groups", group_body("admins", ann))
    scim.patch(f"Users/{ann}", {"op": "replace", "path": "displayName", "value": "Ann Admin"})
    identity = Identity.objects.get(directory_id="ann@example.com")
    assert (identity.display_name, identity.privileged) == ("Ann Admin", True)


def test_group_errors_write_nothing(scim, people):
    ann = people[0]
    scim.post("Groups", group_body("admins", ann))
    before = snapshot(), list(ScimGroup.objects.values())
    assert_error(scim.post("Groups", group_body("ADMINS")), 409, "uniqueness")
    assert_error(scim.post("Groups", group_body("ops", "00000000-0000-0000-0000-00000000000a")),
                 400, "invalidValue")
    assert_error(scim.post("Groups", group_body("ops", "not-an-id")), 400, "invalidValue")
    assert_error(scim.post("Groups", {"schemas": [GROUP], "members": []}), 400, "invalidValue")
    assert_error(scim.post("Groups", group_body("ops", colour="red")), 400, "invalidValue")
    assert_error(scim.get("Groups", filter='members eq "x"'), 400, "invalidFilter")
    assert (snapshot(), list(ScimGroup.objects.values())) == before


def test_a_client_sees_only_its_own_sources_groups(scim, people):
    group = scim.post("Groups", group_body("admins", people[0])).json()
    other, _ = client_for(scim_source("Okta"), "okta")
    assert other.get(f"Groups/{group['id']}").status_code == 404
    assert other.get("Groups").json()["totalResults"] == 0
    assert other.delete(f"Groups/{group['id']}").status_code == 404
    assert privileged() == {"ann@example.com"}


def test_group_list_costs_the_same_queries_for_many_groups(scim, people,
                                                            django_assert_max_num_queries):
    scim.post("Groups", group_body("g0", *people))
    with django_assert_max_num_queries(6):
        assert scim.get("Groups").json()["totalResults"] == 1
    for n in range(1, 15):
        scim.post("Groups", group_body(f"g{n}", *people))
    with django_assert_max_num_queries(6):
        page = scim.get("Groups", count=50).json()
        assert len(page["Resources"]) == 15
        assert all(len(g["members"]) == 3 for g in page["Resources"])


def test_a_group_change_too_large_waits_for_a_security_admin_then_the_retry_stores_it(
        scim, source):
    from recovery_console import workflow
    from tests.factories import staff

    people = [scim.post("Users", user_body(f"p{n}@example.com")).json()["id"]
              for n in range(8)]
    response = scim.post("Groups", group_body("admins", *people[:6]))
    assert_error(response, 503)
    assert not ScimGroup.objects.exists() and privileged() == set()
    waiting = SyncRun.objects.get(status="waiting_for_confirmation")
    workflow.confirm_directory_run(waiting, staff("security_admin"))
    assert len(privileged()) == 6
    response = scim.post("Groups", group_body("admins", *people[:6]))
    assert response.status_code == 201, response.content
    assert SyncRun.objects.latest("pk").unchanged == 6


def test_a_users_groups_are_read_only_and_shown_with_their_reference(scim, people):
    ann, bob, cat = people
    admins = scim.post("Groups", group_body("admins", ann, bob)).json()
    staff = scim.post("Groups", group_body("staff", ann)).json()
    read = scim.get(f"Users/{ann}").json()
    assert read["groups"] == [
        {"value": admins["id"], "$ref": admins["meta"]["location"], "display": "admins",
         "type": "direct"},
        {"value": staff["id"], "$ref": staff["meta"]["location"], "display": "staff",
         "type": "direct"}]
    listed = {user["id"]: user for user in scim.get("Users").json()["Resources"]}
    assert [g["display"] for g in listed[bob]["groups"]] == ["admins"]
    assert "groups" not in listed[cat]
    # A client's groups on a user are ignored (read-only); the memberships stand.
    body = {**user_body("ann@example.com"), "groups": [{"value": staff["id"]}]}
    assert scim.put(f"Users/{ann}", body).json()["groups"] == read["groups"]
    response = scim.patch(f"Users/{ann}", {"op": "add", "path": "groups",
                                           "value": [{"value": staff["id"]}]})
    assert_error(response, 400, "mutability")
    # Leaving, renaming, deleting: the user's groups follow, with a new version.
    version = scim.get(f"Users/{bob}").json()["meta"]["version"]
    scim.patch(f"Groups/{admins['id']}", {"op": "replace", "path": "displayName",
                                          "value": "operators"})
    renamed = scim.get(f"Users/{bob}").json()
    assert [g["display"] for g in renamed["groups"]] == ["operators"]
    assert renamed["meta"]["version"] != version
    scim.delete(f"Groups/{admins['id']}")
    assert "groups" not in scim.get(f"Users/{bob}").json()
    assert [g["display"] for g in scim.get(f"Users/{ann}").json()["groups"]] == ["staff"]


def test_a_membership_change_gives_a_new_version_only_to_who_joins_or_leaves(scim, people):
    ann, bob, cat = people
    group = scim.post("Groups", group_body("staff", ann, bob)).json()

    def versions() -> dict:
        return {user: scim.get(f"Users/{user}").json()["meta"]["version"]
                for user in people}

    before = versions()
    scim.patch(f"Groups/{group['id']}", {"op": "remove", "path": "members",
                                         "value": [{"value": bob}]},
               {"op": "add", "path": "members", "value": [{"value": cat}]})
    after = versions()
    assert after[ann] == before[ann]
    assert after[bob] != before[bob] and after[cat] != before[cat]


def test_user_list_costs_the_same_queries_for_many_users_and_groups(
        scim, people, django_assert_max_num_queries):
    # The client, the count, the page, the page's groups, the audit entry, last used.
    scim.post("Groups", group_body("g0", people[0]))
    with django_assert_max_num_queries(6):
        assert len(scim.get("Users").json()["Resources"]) == 3
    more = [scim.post("Users", user_body(f"u{n}@example.com")).json()["id"] for n in range(20)]
    for n in range(1, 8):
        scim.post("Groups", group_body(f"g{n}", *people, *more))
    with django_assert_max_num_queries(6):
        page = scim.get("Users", count=50).json()["Resources"]
        assert len(page) == 23
        assert all(len(user["groups"]) >= 7 for user in page)
    with django_assert_max_num_queries(6):
        assert len(scim.get(f"Users/{people[0]}").json()["groups"]) == 8
