"""The LDAP reader against a real OpenLDAP server: full passes page by page,
incremental reads, deletions, disabled accounts, the contractor and service
account OUs, group membership and manager references."""

import dataclasses
import subprocess

import pytest

from recovery_console.directory.ldap import DirectoryUnavailable, deleted, read

from .people import (
    CONTRACTORS,
    LOCKED,
    READER_DN,
    READER_PASSWORD,
    SERVICES,
    SUFFIX,
)
from .slapd import LDAPSEARCH, Slapd


def by_uid(result):
    return {record["uid"][0]: record for record in result.records}


def with_(config, **changes):
    return dataclasses.replace(config, **changes)


def test_full_read_returns_every_account_with_its_attributes(ldap_config, organisation):
    result = read(ldap_config)

    assert result.full
    assert len(result.records) == len(organisation.people)
    assert result.ids == {person.id for person in organisation.people}
    grace = organisation.person("glovelace1")
    record = by_uid(result)["glovelace1"]
    assert record["dn"] == [grace.dn]
    assert record["entryUUID"] == [grace.id]
    assert record["cn"] == ["Grace Lovelace"]
    assert record["mail"] == ["glovelace1@example.org"]
    assert record["telephoneNumber"] == [grace.phone]
    assert record["departmentNumber"] == ["Engineering"]
    assert record["employeeType"] == ["employee"]
    assert record["pwdAccountLockedTime"] == []  # asked for, not set: present and empty
    assert result.watermark  # somewhere to resume from


def test_asking_for_dn_among_the_attributes_keeps_the_entrys_dn(ldap_config, organisation):
    """A mapping that reads the OU from ``dn`` lists it with the attributes."""
    result = read(with_(ldap_config, attributes=(*ldap_config.attributes, "dn")))

    assert by_uid(result)["glovelace1"]["dn"] == [organisation.person("glovelace1").dn]


def test_non_ascii_values_arrive_as_text(ldap_config, organisation):
    tomas = next(p for p in organisation.people if p.given_name == "Tomás")

    record = by_uid(read(ldap_config))[tomas.uid]

    assert record["cn"] == [tomas.cn]


def test_the_server_caps_unpaged_searches_and_the_reader_pages_past_the_cap(
        ldap_config, slapd, organisation):
    unpaged = subprocess.run(
        [LDAPSEARCH, "-x", "-LLL", "-H", slapd.url, "-D", READER_DN, "-w", READER_PASSWORD,
         "-b", SUFFIX, "(objectClass=inetOrgPerson)", "1.1"],
        capture_output=True, text=True, check=False)
    assert unpaged.returncode == 4  # sizeLimitExceeded: the server caps at 100
    assert slapd.page_limit < len(organisation.people)

    for page_size in (7, slapd.page_limit):
        result = read(with_(ldap_config, page_size=page_size))
        assert len(result.records) == len(organisation.people)
        assert len(result.ids) == len(organisation.people)


def test_a_page_larger_than_the_server_allows_is_refused_not_cut(ldap_config, slapd):
    with pytest.raises(DirectoryUnavailable) as refused:
        read(with_(ldap_config, page_size=slapd.page_limit + 1))

    assert refused.value.reason == "size_limit"


def test_incremental_read_returns_only_the_entries_changed_since_the_last_read(
        ldap_config, changing_slapd, organisation):
    full = read(ldap_config)
    last_loaded = organisation.people[-1]
    changed = organisation.people[10:13]  # 1 % of 300
    changing_slapd.modify("".join(
        f"dn: {p.dn}\nchangetype: modify\nreplace: telephoneNumber\n"
        f"telephoneNumber: +1 555 0{i}\n\n" for i, p in enumerate(changed)))

    since = read(ldap_config, since=full.watermark)

    assert not since.full
    # A read resumes a little before the newest change it saw (the server's
    # clock is not ours): the entry changed last before the full read may come again.
    assert {p.id for p in changed} <= since.ids <= {p.id for p in changed} | {last_loaded.id}
    assert {r["telephoneNumber"][0] for r in since.records if r["entryUUID"][0] != last_loaded.id
            } == {"+1 555 00", "+1 555 01", "+1 555 02"}
    # The next read resumes after these (at most re-reading those few).
    later = organisation.people[20]
    changing_slapd.modify(f"dn: {later.dn}\nchangetype: modify\nreplace: mail\n"
                          "mail: moved@example.org\n")
    again = read(ldap_config, since=since.watermark)
    assert later.id in again.ids
    assert again.ids <= {p.id for p in changed} | {later.id}


def test_incremental_read_gives_managers_as_their_ids_though_they_were_not_read(
        ldap_config, changing_slapd, organisation):
    full = read(ldap_config)
    person = organisation.people[40]
    changing_slapd.modify(f"dn: {person.dn}\nchangetype: modify\nreplace: title\n"
                          "title: Senior\n")

    record = by_uid(read(ldap_config, since=full.watermark))[person.uid]

    manager = next(p for p in organisation.people if p.dn == person.manager)
    assert record["manager"] == [manager.id]


def test_full_read_gives_managers_as_their_ids(ldap_config, organisation):
    records = by_uid(read(ldap_config))
    ids_by_dn = {p.dn: p.id for p in organisation.people}

    for person in organisation.people:
        expected = [ids_by_dn[person.manager]] if person.manager else []
        assert records[person.uid]["manager"] == expected, person.uid


def test_a_manager_dn_that_names_no_entry_is_dropped_with_a_warning(
        ldap_config, changing_slapd, organisation):
    person = organisation.people[30]
    changing_slapd.modify(f"dn: {person.dn}\nchangetype: modify\nreplace: manager\n"
                          f"manager: uid=left-long-ago,ou=people,{SUFFIX}\n")

    result = read(ldap_config)

    assert by_uid(result)[person.uid]["manager"] == []
    assert any("left-long-ago" in warning for warning in result.warnings)


def test_a_full_pass_shows_which_entries_were_deleted(ldap_config, changing_slapd, organisation):
    before = read(ldap_config)
    gone = [organisation.people[100], organisation.people[-1]]
    changing_slapd.modify("".join(f"dn: {p.dn}\nchangetype: delete\n\n" for p in gone))

    after = read(ldap_config)

    assert deleted(before.ids, after) == {p.id for p in gone}
    assert len(after.records) == len(organisation.people) - 2


def test_an_incremental_read_cannot_tell_deletions(ldap_config, organisation):
    full = read(ldap_config)
    since = read(ldap_config, since=full.watermark)

    assert since.ids <= {organisation.people[-1].id}  # changed last: may come again
    with pytest.raises(ValueError):
        deleted(full.ids, since)


def test_disabled_accounts_contractors_and_service_accounts_are_in_the_records(
        ldap_config, organisation):
    records = by_uid(read(ldap_config))

    disabled = {p.uid for p in organisation.people if p.disabled}
    assert disabled
    assert {uid for uid, r in records.items() if r["pwdAccountLockedTime"] == [LOCKED]} == disabled
    contractors = {p.uid for p in organisation.people if p.ou == CONTRACTORS}
    assert contractors
    assert {uid for uid, r in records.items() if r["dn"][0].endswith(CONTRACTORS)} == contractors
    assert all(records[uid]["employeeType"] == ["contractor"] for uid in contractors)
    services = {uid for uid, r in records.items() if r["dn"][0].endswith(SERVICES)}
    assert services == {p.uid for p in organisation.people if p.ou == SERVICES}
    assert all(records[uid]["employeeType"] == ["service"] for uid in services)


def admins(organisation):
    return {m for m in organisation.groups["admins"].members}


def test_membership_comes_from_memberof_when_the_server_keeps_it(ldap_config, organisation):
    result = read(ldap_config)  # membership="auto": the memberof overlay is loaded

    assert result.membership == "memberOf"
    admins_dn = organisation.groups["admins"].dn
    members = {r["dn"][0] for r in result.records if admins_dn in r["memberOf"]}
    assert members == admins(organisation)
    grace = by_uid(result)["glovelace1"]
    assert set(grace["memberOf"]) == set(organisation.person("glovelace1").groups)


def test_membership_read_from_the_groups_includes_nested_groups(ldap_config, organisation):
    result = read(with_(ldap_config, membership="groups"))

    assert result.membership == "groups"
    privileged = organisation.groups["privileged"].dn
    members = {r["dn"][0] for r in result.records if privileged in r["memberOf"]}
    legal_head = next(p for p in organisation.people
                      if p.department == "Legal" and p.manager == organisation.people[0].dn)
    assert members == admins(organisation) | {legal_head.dn}  # admins is a member of privileged
    grace = by_uid(result)["glovelace1"]
    assert set(grace["memberOf"]) == {*organisation.person("glovelace1").groups, privileged}


def test_without_the_memberof_overlay_membership_is_read_from_the_groups(
        ldap_config, tmp_path, organisation):
    bare = Slapd(tmp_path, memberof=False).load(organisation)
    try:
        result = read(with_(ldap_config, url=bare.url))  # membership="auto"
    finally:
        bare.stop()

    assert result.membership == "groups"
    privileged = organisation.groups["privileged"].dn
    assert {r["dn"][0] for r in result.records if privileged in r["memberOf"]} >= \
        admins(organisation)


@pytest.mark.parametrize("membership", ["memberOf", "groups"])
def test_a_change_of_membership_in_a_watched_group_makes_the_next_read_full(
        ldap_config, changing_slapd, organisation, membership):
    """Adding a member changes the group, not the person (the server keeps
    memberOf without touching the person's modifyTimestamp): an incremental
    read would miss a new administrator."""
    config = with_(ldap_config, membership=membership, watched_groups=("admins",))
    full = read(config)
    newcomer = organisation.people[60]
    changing_slapd.modify(f"dn: {organisation.groups['admins'].dn}\nchangetype: modify\n"
                          f"add: member\nmember: {newcomer.dn}\n")

    result = read(config, since=full.watermark)

    assert result.full
    assert organisation.groups["admins"].dn in by_uid(result)[newcomer.uid]["memberOf"]
    assert any("membership changed" in warning for warning in result.warnings)


def test_a_change_in_a_group_nobody_watches_keeps_the_read_incremental(
        ldap_config, changing_slapd, organisation):
    config = with_(ldap_config, watched_groups=("admins", "executives"))
    full = read(config)
    sales = organisation.groups["dept-sales"]
    changing_slapd.modify(f"dn: {sales.dn}\nchangetype: modify\n"
                          f"delete: member\nmember: {sales.members[0]}\n")

    result = read(config, since=full.watermark)

    assert not result.full
    assert result.ids <= {organisation.people[-1].id}


@pytest.mark.parametrize("how", ["start_tls", "ldaps"])
def test_reads_over_tls_checking_the_servers_certificate(ldap_config, slapd, organisation, how):
    tls = ({"start_tls": True, "url": slapd.named_url} if how == "start_tls"
           else {"url": slapd.ldaps_url})

    result = read(with_(ldap_config, ca_file=str(slapd.ca_file), **tls))

    assert len(result.records) == len(organisation.people)
