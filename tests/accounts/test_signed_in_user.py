"""Who is signed in is read fresh on every request, in one query: the user,
their staff roles and the device that verified the session. Whatever changes
one of them counts from the very next request, however it was changed."""

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY

from accounts.models import User
from tests.factories import staff
from tests.sessions import passkey_for, sign_in_client

pytestmark = pytest.mark.django_db
QUEUE = reverse("recovery:queue")
SIGN_IN = reverse("accounts:sign_in")


def signed_out(response) -> bool:
    return response.status_code == 302 and response.url.startswith(SIGN_IN)


@pytest.fixture
def agent(client):
    user = staff("agent")
    sign_in_client(client, user)
    assert client.get(QUEUE).status_code == 200
    return user


def test_a_role_taken_away_counts_from_the_next_request(client, agent):
    agent.groups.remove(Group.objects.get(name="agent"))
    assert client.get(QUEUE).status_code == 403
    agent.groups.add(Group.objects.get(name="agent"))
    assert client.get(QUEUE).status_code == 200


def test_a_role_taken_away_behind_the_models_back_counts_too(client, agent):
    User.groups.through.objects.filter(user=agent).delete()  # no signal, no save
    assert client.get(QUEUE).status_code == 403


def test_another_role_given_counts_from_the_next_request(client, agent):
    assert "Policies &amp; scripts" not in client.get(QUEUE).content.decode()
    agent.groups.add(Group.objects.get(name="security_admin"))
    assert client.get(reverse("recovery:alerts")).status_code == 200


def test_a_deactivated_account_is_signed_out_on_its_next_request(client, agent):
    User.objects.filter(pk=agent.pk).update(is_active=False)
    assert signed_out(client.get(QUEUE))


def test_a_changed_password_ends_the_sessions_signed_in_with_the_old_one(client, agent):
    agent.set_password("a new long passphrase")
    agent.save()
    assert signed_out(client.get(QUEUE))


def test_a_removed_device_no_longer_verifies_the_session(client, agent):
    agent.totpdevice_set.all().delete()
    assert signed_out(client.get(QUEUE))
    assert DEVICE_ID_SESSION_KEY not in client.session


def test_an_unconfirmed_device_does_not_verify_the_session(client, agent):
    agent.totpdevice_set.update(confirmed=False)
    assert signed_out(client.get(QUEUE))


def test_a_session_naming_someone_elses_device_is_not_verified(client, agent):
    other = staff("agent")
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = other.totpdevice_set.get().persistent_id
    session.save()
    assert signed_out(client.get(QUEUE))


@pytest.mark.parametrize("persistent_id", [
    "otp_totp.totpdevice/not-a-number", "otp_totp.totpdevice", "accounts.user/1",
    "no_such_app.device/1", "otp_totp.nosuchmodel/1", ""])
def test_a_session_naming_no_device_is_not_verified(client, agent, persistent_id):
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = persistent_id
    session.save()
    assert signed_out(client.get(QUEUE))


def test_a_session_verified_by_a_passkey_stands_and_says_so(client):
    user = staff("agent")
    passkey, _ = passkey_for(user)
    sign_in_client(client, user, device=passkey)
    assert client.get(QUEUE).status_code == 200
    passkey.delete()
    assert signed_out(client.get(QUEUE))


def test_user_roles_and_device_are_one_query_and_the_session_none(client, agent):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(QUEUE).status_code == 200
    sql = [q["sql"] for q in queries]
    signed_in = [s for s in sql if "accounts_user" in s or "auth_group" in s
                 or "otp_totp_totpdevice" in s or "passkeycredential" in s]
    assert len(signed_in) == 1, signed_in
    assert not [s for s in sql if "django_session" in s]
