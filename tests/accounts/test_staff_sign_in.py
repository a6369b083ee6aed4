"""Staff sign in with password + TOTP; every refusal is clear, counted,
audited, and leaves nothing signed in."""

import pytest
from auditlog.models import LogEntry
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import ratelimit
from tests.factories import PASSWORD, UserFactory, current_totp, staff

pytestmark = pytest.mark.django_db
SIGN_IN = reverse("accounts:sign_in")
QUEUE = reverse("recovery:queue")
GENERIC = "the username, password and authenticator code do not match"


def sign_in(client, user, password=PASSWORD, token=None, **extra):
    data = {"username": user.username if hasattr(user, "username") else user,
            "password": password, "otp_token": token or current_totp(user)}
    return client.post(SIGN_IN, data, **extra)


def audit_events(name):
    return LogEntry.objects.filter(additional_data__event=name)


def assert_signed_out(client):
    response = client.get(QUEUE)
    assert response.status_code == 302
    assert response.url.startswith(SIGN_IN)


def test_agent_signs_in_with_password_and_totp_and_sees_the_queue(client):
    agent = staff("agent")
    response = sign_in(client, agent)
    assert response.status_code == 302
    page = client.get(QUEUE)
    assert page.status_code == 200
    assert b"Reset queue" in page.content
    entry = audit_events("staff_sign_in").get()
    assert entry.actor == agent
    assert entry.additional_data["method"] == "password+totp"


def test_wrong_totp_is_refused_counted_audited_and_signs_nobody_in(client):
    agent = staff("agent")
    good = current_totp(agent)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    response = sign_in(client, agent, token=wrong)
    assert response.status_code == 400
    assert GENERIC in response.content.decode()
    assert ratelimit.count(ratelimit.SIGN_IN, agent.username) == 1
    agent.refresh_from_db()
    assert agent.last_login is None
    assert audit_events("sign_in_refused").get().additional_data["reason"] == "bad_second_factor"
    assert_signed_out(client)


def test_wrong_password_gets_the_same_answer_as_wrong_totp(client):
    agent = staff("agent")
    response = sign_in(client, agent, password="not-the-password")
    assert response.status_code == 400
    assert GENERIC in response.content.decode()
    assert audit_events("sign_in_refused").get().additional_data["reason"] == "bad_credentials"
    assert_signed_out(client)


def test_unknown_user_gets_the_same_answer_and_is_counted(client):
    response = client.post(SIGN_IN, {"username": "nobody", "password": "x" * 12,
                                     "otp_token": "123456"})
    assert response.status_code == 400
    assert GENERIC in response.content.decode()
    assert ratelimit.count(ratelimit.SIGN_IN, "nobody") == 1
    entry = audit_events("sign_in_refused").get()
    assert entry.additional_data == {"event": "sign_in_refused", "username": "nobody",
                                     "reason": "bad_credentials"}
    assert entry.actor is None


def test_malformed_code_is_a_form_error_and_not_a_sign_in_attempt(client):
    agent = staff("agent")
    response = sign_in(client, agent, token="12ab")
    assert response.status_code == 400
    assert "Enter the 6-digit code" in response.content.decode()
    assert ratelimit.count(ratelimit.SIGN_IN, agent.username) == 0
    assert_signed_out(client)


def test_missing_csrf_token_is_refused_and_signs_nobody_in():
    agent = staff("agent")
    client = Client(enforce_csrf_checks=True)
    response = sign_in(client, agent)
    assert response.status_code == 403
    assert b"security token" in response.content
    assert "_auth_user_id" not in client.session
    agent.refresh_from_db()
    assert agent.last_login is None


def test_a_totp_code_cannot_be_replayed(client):
    agent = staff("agent")
    token = current_totp(agent)
    assert sign_in(client, agent, token=token).status_code == 302
    client.post(reverse("accounts:sign_out"))
    response = sign_in(client, agent, token=token)
    assert response.status_code == 400
    assert_signed_out(client)


def test_after_too_many_failures_even_the_right_code_is_refused(client, settings):
    agent = staff("agent")
    for _ in range(settings.SIGN_IN_MAX_FAILURES_PER_ACCOUNT):
        sign_in(client, agent, password="wrong-password-0")
    response = sign_in(client, agent)
    assert response.status_code == 400
    assert "Too many failed sign-ins" in response.content.decode()
    assert audit_events("sign_in_refused").filter(additional_data__reason="throttled").exists()
    assert TOTPDevice.objects.get(user=agent).last_t == -1  # the code was never even checked
    assert_signed_out(client)


def test_successful_sign_in_does_not_count_against_the_account(client):
    agent = staff("agent")
    sign_in(client, agent)
    assert ratelimit.count(ratelimit.SIGN_IN, agent.username) == 0


def test_a_person_without_a_staff_role_cannot_sign_in_to_the_console(client):
    user = UserFactory()
    from tests.factories import TOTPDeviceFactory

    TOTPDeviceFactory(user=user)
    response = sign_in(client, user)
    assert response.status_code == 400
    assert audit_events("sign_in_refused").get().additional_data["reason"] == "not_staff"
    assert_signed_out(client)


def test_sign_in_rotates_the_session_key(client):
    agent = staff("agent")
    client.get(SIGN_IN)
    client.session.save()
    before = client.session.session_key
    sign_in(client, agent)
    assert client.session.session_key != before


def test_password_alone_is_not_enough_for_staff_pages(client):
    agent = staff("agent")
    client.force_login(agent)  # signed in, but no second factor in this session
    assert_signed_out(client)


@pytest.mark.parametrize("target, expected", [
    ("/queue/", "/queue/"),
    ("https://evil.example/phish", "/"),
    ("//evil.example/", "/"),
])
def test_sign_in_returns_only_to_a_page_of_this_site(client, target, expected):
    agent = staff("agent")
    response = client.post(f"{SIGN_IN}?next={target}", {
        "username": agent.username, "password": PASSWORD, "otp_token": current_totp(agent)})
    assert response.status_code == 302
    assert response.url == expected


def test_sign_out_needs_post(client):
    agent = staff("agent")
    sign_in(client, agent)
    assert client.get(reverse("accounts:sign_out")).status_code == 405
    assert client.get(QUEUE).status_code == 200
