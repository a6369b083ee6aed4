"""``attributes`` and ``excludedAttributes`` (RFC 7644 §3.4.2.5, §3.9) on
Users and Groups, read one by one, listed, and in the answer to a write:
names in any case, with or without their schema's URN, sub-attributes;
``id``, ``schemas`` and ``meta`` always there; a name that is no attribute
selects nothing (RFC 7644 defines no error for it)."""

import pytest

from recovery_console.directory.scim.schema import CORE, ENTERPRISE, GROUP

from .scim_support import client_for, scim_source, user_body
from .test_scim_errors import assert_error

pytestmark = pytest.mark.django_db
MANAGER = f"{ENTERPRISE}:manager"


@pytest.fixture
def scim():
    return client_for(scim_source())[0]


@pytest.fixture
def people(scim):
    boss = scim.post("Users", user_body("boss@example.com", given="Grace")).json()
    ann = scim.post("Users", user_body("ann@example.com", manager=boss["id"])).json()
    group = scim.post("Groups", {"schemas": [GROUP], "displayName": "staff",
                                 "members": [{"value": ann["id"]}]}).json()
    return boss, scim.get(f"Users/{ann['id']}").json(), group


def test_attributes_returns_the_minimum_set_and_what_is_asked(scim, people):
    _boss, ann, _group = people
    body = scim.get(f"Users/{ann['id']}", attributes="USERNAME,name.givenName").json()
    assert set(body) == {"schemas", "id", "meta", "userName", "name"}
    assert body["name"] == {"givenName": "Ada"}
    assert body["meta"]["version"] == ann["meta"]["version"]
    # The enterprise manager by its full path, the core schema's URN in front of a name.
    body = scim.get(f"Users/{ann['id']}",
                    attributes=f"{MANAGER},{CORE}:emails.value").json()
    assert body[ENTERPRISE] == {"manager": ann[ENTERPRISE]["manager"]}
    assert body["emails"] == [{"value": "ann@example.com"}]
    assert "userName" not in body
    # Two sub-attributes of one multi-valued attribute, and the whole extension by its URN.
    body = scim.get(f"Users/{ann['id']}", attributes=f"groups.display,groups.value,{ENTERPRISE}")
    assert body.json()["groups"] == [{"display": "staff", "value": people[2]["id"]}]
    assert body.json()[ENTERPRISE] == ann[ENTERPRISE]


def test_excluded_attributes_leaves_them_out_but_never_the_minimum(scim, people):
    _boss, ann, _group = people
    body = scim.get(f"Users/{ann['id']}",
                    excludedAttributes=f"emails,groups,name.formatted,{MANAGER},id,meta").json()
    assert "emails" not in body and "groups" not in body
    assert body["name"] == {"givenName": "Ada", "familyName": "Lovelace"}
    assert body[ENTERPRISE] == {"department": "Research", "employeeNumber": "1001"}
    assert body["id"] == ann["id"] and body["meta"] == ann["meta"]
    body = scim.get(f"Users/{ann['id']}", excludedAttributes=ENTERPRISE).json()
    assert ENTERPRISE not in body and body["userName"] == "ann@example.com"


def test_lists_and_groups_take_the_same_parameters(scim, people):
    boss, ann, group = people
    listed = scim.get("Users", attributes="userName", filter='userName sw "a"').json()
    assert listed["Resources"] == [{"schemas": ann["schemas"], "id": ann["id"],
                                    "userName": "ann@example.com", "meta": ann["meta"]}]
    groups = scim.get("Groups", attributes="displayName").json()["Resources"]
    assert [set(g) for g in groups] == [{"schemas", "id", "meta", "displayName"}]
    one = scim.get(f"Groups/{group['id']}", excludedAttributes="members").json()
    assert "members" not in one and one["displayName"] == "staff"
    one = scim.get(f"Groups/{group['id']}", attributes="members.value").json()
    assert one["members"] == [{"value": ann["id"]}]
    assert "displayName" not in one
    # A name that is no attribute: nothing more than the minimum, and no error.
    body = scim.get(f"Users/{boss['id']}", attributes="nosuch,name.nosuch,urn:x:y:nosuch")
    assert body.status_code == 200
    assert set(body.json()) == {"schemas", "id", "meta"}
    assert scim.get("Groups", excludedAttributes="nosuch").json()["Resources"][0]["members"]


def test_a_password_is_never_returned_even_when_asked(scim, people):
    _boss, ann, _group = people
    scim.patch(f"Users/{ann['id']}", {"op": "replace", "path": "password", "value": "s3cret!"})
    body = scim.get(f"Users/{ann['id']}", attributes="password,userName").json()
    assert "password" not in body and body["userName"] == "ann@example.com"


def test_the_answer_to_a_write_is_projected_too(scim, people):
    _boss, ann, _group = people
    response = scim.patch(f"Users/{ann['id']}?attributes=displayName",
                          {"op": "replace", "path": "displayName", "value": "Ann Other"})
    assert response.status_code == 200
    assert set(response.json()) == {"schemas", "id", "meta", "displayName"}
    created = scim.post("Users?excludedAttributes=emails,name", user_body("cy@example.com"))
    assert created.status_code == 201
    assert "emails" not in created.json() and "name" not in created.json()


def test_both_parameters_at_once_are_refused(scim, people):
    _boss, ann, _group = people
    response = scim.get(f"Users/{ann['id']}", attributes="userName",
                        excludedAttributes="emails")
    assert_error(response, 400)


def test_leaving_out_groups_and_members_spares_their_query(
        scim, people, django_assert_max_num_queries):
    _boss, ann, group = people
    # The client, the user or group, the audit entry, last used.
    with django_assert_max_num_queries(4):
        assert "groups" not in scim.get(f"Users/{ann['id']}", attributes="userName").json()
    with django_assert_max_num_queries(4):
        assert scim.get(f"Groups/{group['id']}", excludedAttributes="members").status_code == 200
