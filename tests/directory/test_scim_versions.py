"""Versions (RFC 7644 §3.14): ``meta.version`` is a weak ETag, sent as the
``ETag`` header of every single-resource answer; ``If-None-Match`` on a read
answers 304 while nothing changed; a write whose ``If-Match`` names another
version changes nothing (412, the SCIM error body)."""

import pytest
from django.test import RequestFactory

from recovery_console.directory.models import ScimUser, SyncRun
from recovery_console.directory.scim.schema import GROUP
from recovery_console.directory.scim.views import _from_refusal
from recovery_console.refusal import WorkflowError

from .scim_support import client_for, scim_source, user_body
from .test_scim_errors import assert_error, snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def scim():
    return client_for(scim_source())[0]


@pytest.fixture
def ann(scim):
    response = scim.post("Users", user_body("ann@example.com"))
    assert response["ETag"] == response.json()["meta"]["version"] == 'W/"1"'
    return response.json()


def rename(scim, user: dict, name: str, **headers):
    return scim.patch(f"Users/{user['id']}", {"op": "replace", "path": "displayName",
                                              "value": name}, headers=headers)


def test_every_single_resource_answer_carries_its_version(scim, ann):
    url = f"Users/{ann['id']}"
    read = scim.get(url)
    assert read["ETag"] == read.json()["meta"]["version"] == 'W/"1"'
    patched = rename(scim, ann, "Ann Other")
    assert patched["ETag"] == patched.json()["meta"]["version"] == 'W/"2"'
    put = scim.put(url, user_body("ann@example.com", given="Anne"))
    assert put["ETag"] == 'W/"3"'
    listed = scim.get("Users").json()["Resources"][0]
    assert listed["meta"]["version"] == 'W/"3"'


def test_if_none_match_on_a_read_is_304_until_it_changes(scim, ann):
    url = f"Users/{ann['id']}"
    headers = {"If-None-Match": ann["meta"]["version"]}
    unchanged = scim.client.get(f"/scim/v2/{url}", headers={**scim.headers, **headers})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged["ETag"] == ann["meta"]["version"]
    rename(scim, ann, "Ann Other")
    changed = scim.client.get(f"/scim/v2/{url}", headers={**scim.headers, **headers})
    assert changed.status_code == 200
    assert changed.json()["displayName"] == "Ann Other"
    star = scim.client.get(f"/scim/v2/{url}", headers={**scim.headers, "If-None-Match": "*"})
    assert star.status_code == 304


def test_a_write_naming_another_version_is_412_and_changes_nothing(scim, ann):
    rename(scim, ann, "Ann Other")  # now at version 2
    before = snapshot()
    url = f"Users/{ann['id']}"
    old = {"If-Match": ann["meta"]["version"]}
    assert_error(rename(scim, ann, "Lost Update", **old), 412)
    assert_error(scim.put(url, user_body("ann@example.com"), headers=old), 412)
    assert_error(scim.client.delete(f"/scim/v2/{url}", headers={**scim.headers, **old}), 412)
    assert_error(rename(scim, ann, "Clash", **{"If-None-Match": "*"}), 412)
    assert snapshot() == before
    # The current version (weak or strong form, among others, or *) lets it through.
    for tag in ('W/"2"', '"1", "3"', "*"):  # versions 2, 3, 4
        response = rename(scim, ann, f"Ann {tag}", **{"If-Match": tag})
        assert response.status_code == 200, (tag, response.content)
        ann = response.json()
    assert ScimUser.objects.get().version == 5


def test_groups_carry_versions_and_honour_the_same_headers(scim, ann):
    created = scim.post("Groups", {"schemas": [GROUP], "displayName": "staff",
                                   "members": [{"value": ann["id"]}]})
    group = created.json()
    assert created["ETag"] == group["meta"]["version"] == 'W/"1"'
    url = f"/scim/v2/Groups/{group['id']}"
    assert scim.client.get(url, headers={**scim.headers, "If-None-Match": 'W/"1"'}
                           ).status_code == 304
    runs = SyncRun.objects.count()
    stale = scim.patch(f"Groups/{group['id']}", {"op": "replace", "path": "displayName",
                                                 "value": "x"}, headers={"If-Match": 'W/"7"'})
    assert_error(stale, 412)
    assert SyncRun.objects.count() == runs
    fresh = scim.patch(f"Groups/{group['id']}", {"op": "replace", "path": "displayName",
                                                 "value": "x"}, headers={"If-Match": 'W/"1"'})
    assert fresh["ETag"] == 'W/"2"'


def test_a_change_landing_after_the_if_match_check_is_412_not_409():
    stale = WorkflowError("The user changed while this request ran: read it again.",
                          reason="stale_user")
    conditional = RequestFactory().patch("/scim/v2/Users/x", headers={"If-Match": 'W/"1"'})
    assert _from_refusal(stale, conditional).status == 412
    assert _from_refusal(stale, RequestFactory().patch("/scim/v2/Users/x")).status == 409
