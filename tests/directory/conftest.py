"""A real OpenLDAP server (Debian's slapd) for the LDAP reader's tests: one
for the session, loaded with a generated organisation of 300 accounts. A
test that changes the directory asks for ``changing_slapd``, which puts the
data back after it. In CI a missing slapd fails the run (.ci/run installs
it); elsewhere those tests are skipped."""

import pytest

from recovery_console.directory.ldap import LdapConfig
from tests.conftest import IN_CI

from .people import READER_DN, READER_PASSWORD, SUFFIX, generate
from .slapd import Slapd, missing

PASSWORD_ENV = "TEST_DIRECTORY_BIND_PASSWORD"
PEOPLE = 300


@pytest.fixture(scope="session")
def organisation():
    """What the server holds, as Python objects (the same on every load)."""
    return generate(PEOPLE)


@pytest.fixture(scope="session")
def slapd(organisation, tmp_path_factory):
    reason = missing()
    if reason:
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    server = Slapd(tmp_path_factory.mktemp("slapd")).load(organisation)
    yield server
    server.stop()


@pytest.fixture
def changing_slapd(slapd):
    """The session's server, for a test that changes it: put back after."""
    yield slapd
    slapd.reset()


@pytest.fixture
def ldap_config(slapd, monkeypatch) -> LdapConfig:
    """How the console would be configured for the test server (OpenLDAP):
    the service account's password in the environment, never in the config."""
    monkeypatch.setenv(PASSWORD_ENV, READER_PASSWORD)
    return LdapConfig(
        url=slapd.url, bind_dn=READER_DN, password_env=PASSWORD_ENV, base_dn=SUFFIX,
        filter="(objectClass=inetOrgPerson)",
        attributes=("uid", "cn", "mail", "telephoneNumber", "departmentNumber",
                    "employeeType", "manager", "pwdAccountLockedTime"),
        page_size=50, connect_timeout=5, receive_timeout=10)
