"""What the reader makes of Active Directory's values and of watermarks,
without a server: binary ids as AD shows them, DN comparison, where the
next incremental read resumes. (The AD path that needs a server, the root
DSE's highestCommittedUSN, is refused cleanly by slapd: last test.)"""

import uuid

import pytest

from recovery_console.directory import ldap
from recovery_console.directory.ldap import DirectoryUnavailable, LdapConfig, read

AD = LdapConfig(url="ldaps://dc1.corp.example.com", bind_dn="CN=svc,OU=Service,DC=corp",
                password_env="X", base_dn="DC=corp", id_attribute="objectGUID",
                watermark_attribute="uSNChanged")
OPENLDAP = LdapConfig(url="ldap://ldap.example.org", bind_dn="cn=r", password_env="X",
                      base_dn="dc=example,dc=org")


def test_object_guid_reads_as_active_directory_writes_it():
    guid = uuid.UUID("2b1f7c4e-9a3d-4f6b-8e2a-1c0d5e6f7a8b")

    assert ldap._values("objectGUID", [guid.bytes_le]) == [str(guid)]


def test_object_sid_reads_as_a_sid_string():
    # S-1-5-21-1004336348-1177238915-682003330-512 (a Domain Admins SID)
    raw = bytes([1, 5, 0, 0, 0, 0, 0, 5]) + b"".join(
        n.to_bytes(4, "little") for n in (21, 1004336348, 1177238915, 682003330, 512))

    assert ldap._values("objectSid", [raw]) == ["S-1-5-21-1004336348-1177238915-682003330-512"]


def test_a_value_that_is_not_text_is_kept_as_base64():
    assert ldap._values("thumbnailPhoto", [b"\xff\xd8\xff"]) == ["base64:/9j/"]


def test_dns_compare_without_case_or_spaces_around_separators():
    assert ldap._norm("CN=Ada Lovelace, OU=People,DC=Example,DC=org") == \
        ldap._norm("cn=ada lovelace,ou=people,dc=example,dc=org")
    assert ldap._norm(r"CN=Lovelace\, Ada,OU=People,DC=corp") == \
        ldap._norm(r"cn=lovelace\, ada,ou=people,dc=corp")
    assert ldap._norm(r"cn=Lovelace\, Ada,dc=corp") != ldap._norm("cn=Lovelace,cn=Ada,dc=corp")


def test_a_group_is_named_by_its_dn_or_its_first_rdn():
    dn = "CN=Domain Admins,CN=Users,DC=corp,DC=example,DC=com"

    assert ldap._same_group(dn, "domain admins")
    assert ldap._same_group(dn, "cn=domain admins,cn=users,dc=corp,dc=example,dc=com")
    assert not ldap._same_group(dn, "Admins")


def test_an_ad_read_resumes_after_the_highest_usn_taken_before_it():
    assert ldap._watermark(AD, "100", newest=250, usn_start=300, seconds=5) == "301"
    assert ldap._since(AD, "301") == "(&(objectClass=inetOrgPerson)(uSNChanged>=301))"


def test_an_openldap_read_resumes_its_duration_before_the_newest_change_it_saw():
    """An entry changed during the read, behind the pages already read, has a
    timestamp no earlier than the read's start on the server's clock."""
    mark = ldap._watermark(OPENLDAP, "", newest="20261129120000", usn_start=None, seconds=2.5)

    assert mark == "20261129115956Z"  # 3 s for the read, 1 s to spare
    assert ldap._watermark(OPENLDAP, "20261129115959Z", newest="20261129120000",
                           usn_start=None, seconds=2.5) == "20261129115959Z"  # never backwards
    assert ldap._watermark(OPENLDAP, "20261129115959Z", newest=None, usn_start=None,
                           seconds=1) == "20261129115959Z"


def test_active_directory_times_with_a_fraction_are_understood():
    assert ldap._newer(None, ["20261129120000.0Z", "20261129110000.0Z"], OPENLDAP) == \
        "20261129120000"


@pytest.mark.parametrize("since", ["*", "2026", "20261129120000Z)(uid=*", "abc",
                                   "20261129120000.)(uid=*Z"])
def test_a_watermark_is_checked_before_it_reaches_a_filter(since):
    with pytest.raises(ValueError):
        ldap._split(OPENLDAP, since)


def test_an_ad_watermark_is_a_number():
    with pytest.raises(ValueError):
        ldap._split(AD, "20261129120000Z")


def test_an_unknown_reason_is_a_programming_error():
    with pytest.raises(ValueError):
        DirectoryUnavailable("oops", "no such reason")


def test_usn_watermarks_on_a_server_without_them_are_refused(ldap_config):
    import dataclasses

    with pytest.raises(DirectoryUnavailable) as refused:
        read(dataclasses.replace(ldap_config, watermark_attribute="uSNChanged"))

    assert refused.value.reason == "no_watermark"
