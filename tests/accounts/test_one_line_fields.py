"""Names, departments, addresses and phone numbers are one line of text: the
admin (and anything calling ``full_clean``) refuses a line break or control
character in them with a clear message, and nothing changes."""

import re

import pytest
from auditlog.models import LogEntry
from django.core.exceptions import ValidationError

from accounts.models import Identity, RecoveryChannel, User
from accounts.validators import validate_no_control_characters
from recovery_console.models import Notice
from tests import admin_forms
from tests.factories import IdentityFactory, RecoveryChannelFactory, staff
from tests.sessions import sign_in_client

pytestmark = pytest.mark.django_db

# CR, LF, NEL (C1), LINE SEPARATOR, CSI (C1), and ESC, TAB, PARAGRAPH SEPARATOR.
BREAKERS = ["\r", "\n", "\x85", "\u2028", "\x9b", "\x1b", "\t", "\u2029"]
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
MESSAGE = "Enter this on one line: line breaks and control characters are not allowed"


@pytest.fixture
def admin_client(client):
    security_admin = staff("security_admin", is_staff=True, is_superuser=True)
    return sign_in_client(client, security_admin)


def change_form(admin_client, url: str) -> dict:
    page = admin_client.get(url)
    assert page.status_code == 200
    return admin_forms.form_data(page)


def submit(admin_client, url: str, field: str, value: str):
    data = change_form(admin_client, url)
    assert field in data
    return admin_client.post(url, {**data, field: value, "_save": "Save"})


def snapshot(obj) -> dict:
    obj.refresh_from_db()
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


@pytest.mark.parametrize("breaker", BREAKERS, ids=[f"U+{ord(c):04X}" for c in BREAKERS])
@pytest.mark.parametrize("field", ["display_name", "department", "partner_organisation",
                                   "directory_phone"])
def test_the_admin_refuses_an_identity_field_with_a_line_break_or_control(
        admin_client, field, breaker):
    identity = IdentityFactory(display_name="Ana Lima", department="Finance",
                               directory_phone="+44 20 7946 0001")
    url = f"/admin/accounts/identity/{identity.pk}/change/"
    before, entries = snapshot(identity), LogEntry.objects.count()
    response = submit(admin_client, url, field, f"Ana{breaker}Injected line")
    assert response.status_code == 200
    assert MESSAGE in response.content.decode()
    assert f"U+{ord(breaker):04X}" in response.content.decode()
    assert snapshot(identity) == before
    assert LogEntry.objects.count() == entries


@pytest.mark.parametrize("breaker", BREAKERS, ids=[f"U+{ord(c):04X}" for c in BREAKERS])
def test_the_admin_refuses_a_channel_address_with_a_line_break_or_control(admin_client,
                                                                          breaker):
    channel = RecoveryChannelFactory(kind="email", address="ana@example.org")
    url = f"/admin/accounts/recoverychannel/{channel.pk}/change/"
    before, entries = snapshot(channel), LogEntry.objects.count()
    response = submit(admin_client, url, "address", f"ana@example.org{breaker}Bcc: x@evil.test")
    assert response.status_code == 200
    assert MESSAGE in response.content.decode()
    assert snapshot(channel) == before
    assert LogEntry.objects.count() == entries


@pytest.mark.parametrize("breaker", BREAKERS, ids=[f"U+{ord(c):04X}" for c in BREAKERS])
@pytest.mark.parametrize("field", ["first_name", "last_name"])
def test_the_admin_refuses_a_staff_name_with_a_line_break_or_control(admin_client, field,
                                                                     breaker):
    agent = staff("agent", first_name="Bo", last_name="Ek")
    url = f"/admin/accounts/user/{agent.pk}/change/"
    before, entries = snapshot(agent), LogEntry.objects.count()
    response = submit(admin_client, url, field, f"Bo{breaker}[supervisor]")
    assert response.status_code == 200
    assert MESSAGE in response.content.decode()
    assert snapshot(agent) == before
    assert LogEntry.objects.count() == entries


def test_the_same_admin_forms_save_a_clean_value(admin_client):
    """The forms above were refused for the character alone."""
    identity = IdentityFactory(display_name="Ana Lima")
    channel = RecoveryChannelFactory(identity=identity, kind="phone", address="+44 20 7946 0002")
    agent = staff("agent", first_name="Bo")
    for url, field, value in [
        (f"/admin/accounts/identity/{identity.pk}/change/", "display_name", "Ana Lima-Sá"),
        (f"/admin/accounts/recoverychannel/{channel.pk}/change/", "address", "+44 20 7946 0003"),
        (f"/admin/accounts/user/{agent.pk}/change/", "first_name", "Börje"),
    ]:
        assert submit(admin_client, url, field, value).status_code == 302
    assert Identity.objects.get(pk=identity.pk).display_name == "Ana Lima-Sá"
    assert RecoveryChannel.objects.get(pk=channel.pk).address == "+44 20 7946 0003"
    assert User.objects.get(pk=agent.pk).first_name == "Börje"


@pytest.mark.parametrize("breaker", BREAKERS, ids=[f"U+{ord(c):04X}" for c in BREAKERS])
def test_full_clean_refuses_a_display_name_with_a_line_break_or_control(breaker):
    identity = IdentityFactory.build(display_name=f"Ana{breaker}Lima", user=None)
    with pytest.raises(ValidationError) as refused:
        identity.full_clean()
    assert refused.value.message_dict["display_name"][0].startswith(MESSAGE)


@pytest.mark.parametrize("text", ["Ana Lima", "Zoë O’Brien-Ñúñez", "李小龍", "+44 (20) 7946-0000",
                                  "ana.lima+desk@example.org", ""])
def test_ordinary_names_addresses_and_numbers_pass(text):
    validate_no_control_characters(text)


def test_a_passkey_name_with_line_breaks_or_controls_is_stored_and_told_as_one_line(client):
    """The name arrives with the finished ceremony (the authenticator already
    holds the passkey), so it is made one line rather than refused."""
    from tests.accounts.test_passkeys import REG_VERIFY, post_json, start_registration
    from tests.soft_authenticator import SoftAuthenticator

    agent = staff("agent")
    sign_in_client(client, agent)
    identity = IdentityFactory(user=agent)
    RecoveryChannelFactory(identity=identity, kind="email")
    soft = SoftAuthenticator()
    name = "Laptop\r\nBcc: x@evil.test\u2028\x85\x9b31m\x1b[0m  key"
    response = post_json(client, REG_VERIFY,
                         {"credential": soft.create(start_registration(client)), "name": name})
    assert response.status_code == 200
    stored = agent.passkeycredential_set.get().name
    assert stored == "Laptop Bcc: x@evil.test 31m [0m key"
    notice = Notice.objects.get(event="passkey_added")
    first_line = notice.body.split("\n")[0]
    assert first_line == f"A passkey named “{stored}” was added to your account."
    assert not CONTROL.search(first_line)
