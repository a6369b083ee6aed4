"""Directory group memberships, as each run reads them, for the cohorts'
"directory group" rule: CSV files, LDAP passes and SCIM groups alike."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Identity
from recovery_console import workflow
from recovery_console.directory.groups import store_group_memberships
from recovery_console.directory.models import GroupMembership
from recovery_console.rollout import readiness
from recovery_console.rollout.models import Cohort
from tests.directory.scim_support import client_for, scim_source, user_body
from tests.directory.support import hr_source, row

pytestmark = pytest.mark.django_db


def groups_of(directory_id: str) -> set[str]:
    return set(GroupMembership.objects.filter(identity__directory_id=directory_id)
               .values_list("name", flat=True))


def test_a_sync_stores_each_persons_groups_and_follows_them_as_they_change():
    source = hr_source()
    workflow.sync_directory(source, [row("e1", groups="Finance Team;admins"),
                                     row("e2", groups="Sales"), row("e3")])
    assert groups_of("e1") == {"Finance Team", "admins"}
    assert groups_of("e2") == {"Sales"}
    assert groups_of("e3") == set()
    cohort = Cohort.objects.create(name="Finance", directory_group="finance team")
    assert [i.directory_id for i in readiness.members(cohort)] == ["e1"]

    workflow.sync_directory(source, [row("e1", groups="admins"),
                                     row("e2", groups="Sales;Finance team"), row("e3")])

    assert groups_of("e1") == {"admins"}
    assert groups_of("e2") == {"Sales", "Finance team"}
    assert [i.directory_id for i in readiness.members(cohort)] == ["e2"]


def test_a_previewed_file_stores_the_groups_when_it_is_applied():
    source = hr_source()
    admin = _security_admin()
    run = workflow.preview_directory(source, [row("e1", groups="Pilot")], admin)
    assert groups_of("e1") == set()  # a preview writes nothing
    workflow.apply_directory_run(run, admin)
    assert groups_of("e1") == {"Pilot"}


def test_ldap_records_give_their_groups_as_distinguished_names():
    source = hr_source(name="Corporate LDAP", groups_attribute="memberOf",
                       external_id_attribute="entryUUID")
    dn = "cn=Pilot,ou=Groups,dc=example,dc=org"
    workflow.sync_directory(source, [{**row("e1"), "entryUUID": "u-1", "memberOf": [dn]}])
    assert groups_of("e1") == {dn}
    cohort = Cohort.objects.create(name="Pilot", directory_group="CN=Pilot,OU=Groups,"
                                                                 "DC=example,DC=org")
    assert readiness.members(cohort).count() == 1


def test_scim_group_membership_is_stored_for_its_members():
    source = scim_source()
    scim = client_for(source)[0]
    ann = scim.post("Users", user_body("ann@example.com")).json()["id"]
    scim.post("Users", user_body("bob@example.com"))
    response = scim.post("Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                    "displayName": "Passkey pilot",
                                    "members": [{"value": ann}]})
    assert response.status_code == 201, response.content
    assert groups_of("ann@example.com") == {"Passkey pilot"}
    assert groups_of("bob@example.com") == set()


def test_unchanged_memberships_cost_one_read_and_no_write():
    source = hr_source()
    records = [row(f"e{i}", groups="Sales;Pilot") for i in range(30)]
    workflow.sync_directory(source, records)
    assert GroupMembership.objects.count() == 60
    with CaptureQueriesContext(connection) as queries:
        assert store_group_memberships(source, records) == 0
    statements = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    assert statements == ["SELECT", "SELECT"]  # the mapping's rules, the memberships


def test_a_source_without_a_groups_attribute_keeps_no_memberships():
    source = hr_source(groups_attribute="")
    workflow.sync_directory(source, [row("e1", groups="Sales")])
    assert Identity.objects.filter(directory_id="e1").exists()
    assert GroupMembership.objects.count() == 0


def _security_admin():
    from tests.factories import staff

    return staff("security_admin")
