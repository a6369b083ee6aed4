"""A directory that cannot be read whole fails the read with one typed error
(``DirectoryUnavailable`` and its reason), never a part of the records:
a server down, unreachable, silent or dying mid-read, a refused bind, a size
limit, a referral, a missing base DN, StartTLS the server cannot do."""

import dataclasses
import time

import pytest

from recovery_console.directory.ldap import DirectoryUnavailable, read

from .conftest import PASSWORD_ENV
from .faults import Cutoff, Silent
from .people import LIMITED_DN, LIMITED_PASSWORD, SUFFIX, generate
from .slapd import Slapd, free_port


def with_(config, **changes):
    return dataclasses.replace(config, **changes)


def refusal(config, **kwargs) -> DirectoryUnavailable:
    with pytest.raises(DirectoryUnavailable) as raised:
        read(config, **kwargs)
    return raised.value


def test_a_stopped_server_is_unreachable(ldap_config, changing_slapd):
    changing_slapd.stop()

    error = refusal(ldap_config)

    assert error.reason == "unreachable"
    assert changing_slapd.url in error.message


def test_a_closed_port_is_unreachable(ldap_config):
    error = refusal(with_(ldap_config, url=f"ldap://127.0.0.1:{free_port()}"))

    assert error.reason == "unreachable"


def test_an_unroutable_address_gives_up_after_the_connect_timeout(ldap_config):
    started = time.monotonic()

    error = refusal(with_(ldap_config, url="ldap://192.0.2.1:389", connect_timeout=1))

    assert error.reason == "unreachable"  # TEST-NET-1: nothing answers there
    assert time.monotonic() - started < 5


def test_a_server_that_never_answers_times_out(ldap_config):
    silent = Silent()
    try:
        started = time.monotonic()
        error = refusal(with_(ldap_config, url=silent.url, receive_timeout=1))
    finally:
        silent.close()

    assert error.reason == "timeout"
    assert time.monotonic() - started < 5


def test_a_server_that_freezes_in_the_middle_of_the_read_gives_nothing(ldap_config, slapd):
    # Some pages of 10 come (about 6 kB each), then nothing more.
    frozen = Cutoff(slapd.port, after=20_000, stall=True)
    try:
        error = refusal(with_(ldap_config, url=frozen.url, page_size=10, receive_timeout=1))
    finally:
        frozen.close()

    assert error.reason == "timeout"
    assert frozen.forwarded == 20_000  # it was well into the read


def test_a_server_that_hangs_up_in_the_middle_of_the_read_gives_nothing(ldap_config, slapd):
    dying = Cutoff(slapd.port, after=20_000, stall=False)
    try:
        error = refusal(with_(ldap_config, url=dying.url, page_size=10))
    finally:
        dying.close()

    assert error.reason == "connection_lost"
    assert dying.forwarded == 20_000


def test_a_read_slower_than_its_limit_stops_between_pages(ldap_config):
    error = refusal(with_(ldap_config, page_size=10, max_seconds=0.001))

    assert error.reason == "timeout"
    assert "longer than" in error.message


def test_a_wrong_password_is_a_refused_bind(ldap_config, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")

    error = refusal(ldap_config)

    assert error.reason == "bind_refused"
    assert ldap_config.bind_dn in error.message
    assert "not-the-password" not in str(error)


def test_an_unknown_bind_dn_is_a_refused_bind(ldap_config):
    error = refusal(with_(ldap_config, bind_dn=f"cn=nobody,{SUFFIX}"))

    assert error.reason == "bind_refused"


def test_a_password_missing_from_the_environment_is_named(ldap_config, monkeypatch):
    monkeypatch.delenv(PASSWORD_ENV)

    error = refusal(ldap_config)

    assert error.reason == "no_credentials"
    assert PASSWORD_ENV in error.message


def test_the_servers_size_limit_fails_the_read_instead_of_cutting_it(ldap_config, monkeypatch):
    monkeypatch.setenv("LIMITED_PASSWORD", LIMITED_PASSWORD)
    limited = with_(ldap_config, bind_dn=LIMITED_DN, password_env="LIMITED_PASSWORD")

    error = refusal(limited)

    assert error.reason == "size_limit"


def referral(changing_slapd):
    changing_slapd.modify(
        f"dn: ou=elsewhere,{SUFFIX}\nchangetype: add\nobjectClass: referral\n"
        f"objectClass: extensibleObject\nou: elsewhere\n"
        f"ref: ldap://other.example.org/ou=elsewhere,{SUFFIX}\n", manage_dsa_it=True)


def test_a_subtree_held_by_another_server_fails_the_read(ldap_config, changing_slapd):
    referral(changing_slapd)

    error = refusal(ldap_config)

    assert error.reason == "referral"
    assert "other.example.org" in error.message


def test_a_base_dn_held_by_another_server_fails_the_read(ldap_config, changing_slapd):
    referral(changing_slapd)

    error = refusal(with_(ldap_config, base_dn=f"ou=staff,ou=elsewhere,{SUFFIX}"))

    assert error.reason == "referral"


def test_references_can_be_skipped_when_configured(ldap_config, changing_slapd, organisation):
    referral(changing_slapd)

    result = read(with_(ldap_config, ignore_references=True))

    assert len(result.records) == len(organisation.people)


def test_a_base_dn_that_does_not_exist_is_named(ldap_config):
    error = refusal(with_(ldap_config, base_dn=f"ou=nowhere,{SUFFIX}"))

    assert error.reason == "no_such_base"


def test_a_malformed_filter_is_named(ldap_config):
    error = refusal(with_(ldap_config, filter="(objectClass=inetOrgPerson"))

    assert error.reason == "bad_filter"


def test_start_tls_without_a_certificate_the_reader_trusts_fails_cleanly(ldap_config, slapd):
    # the system's CAs: not this one
    error = refusal(with_(ldap_config, url=slapd.named_url, start_tls=True))

    assert error.reason == "tls"


@pytest.mark.parametrize("how", ["start_tls", "ldaps"])
def test_a_certificate_for_another_name_fails_cleanly(ldap_config, slapd, how):
    """The certificate names ``localhost``; the reader was told 127.0.0.1."""
    url = slapd.url if how == "start_tls" else slapd.ldaps_url.replace("localhost", "127.0.0.1")

    error = refusal(with_(ldap_config, url=url, start_tls=how == "start_tls",
                          ca_file=str(slapd.ca_file)))

    assert error.reason == "tls"
    assert "doesn't match" in error.message


def test_ldaps_without_a_certificate_the_reader_trusts_fails_cleanly(ldap_config, slapd):
    error = refusal(with_(ldap_config, url=slapd.ldaps_url))

    assert error.reason == "tls"


def test_a_ca_file_that_is_not_there_fails_cleanly(ldap_config, tmp_path):
    error = refusal(with_(ldap_config, start_tls=True, ca_file=str(tmp_path / "none.pem")))

    assert error.reason == "tls"


def test_start_tls_on_a_server_that_cannot_do_it_fails_cleanly(ldap_config, slapd, tmp_path):
    plain = Slapd(tmp_path, tls=False).load(generate(50))
    try:
        error = refusal(with_(ldap_config, url=plain.url, start_tls=True,
                              ca_file=str(slapd.ca_file)))
    finally:
        plain.stop()

    assert error.reason == "tls"


def test_a_watermark_that_is_not_a_time_is_refused_before_any_search(ldap_config):
    with pytest.raises(ValueError):
        read(ldap_config, since="*)(uid=*")
