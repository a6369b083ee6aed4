"""Sensitive actions ask for a fresh check; staff sessions end on time."""

import pickle  # nosec B403 - reads the test's own cache file
import time
from datetime import timedelta
from importlib import import_module

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.middleware import REFRESHED_AT
from accounts.stepup import SIGNED_IN_AT, STEP_UP_AT
from tests.factories import current_totp, staff
from tests.sessions import sign_in_client

pytestmark = pytest.mark.django_db
ADD = reverse("accounts:passkey_add")
STEP_UP = reverse("accounts:step_up")


@pytest.fixture
def stale_agent(client):
    user = staff("agent")
    sign_in_client(client, user, stepped_up_ago=timedelta(minutes=6))
    return user


def test_a_stale_check_interrupts_a_protected_page_and_returns_to_it(client, stale_agent):
    response = client.get(ADD)
    assert response.status_code == 302
    assert response.url == f"{STEP_UP}?next=%2Fmy%2Fpasskeys%2Fadd%2F"
    before = client.session.session_key
    response = client.post(response.url, {"otp_token": current_totp(stale_agent)})
    assert response.status_code == 302 and response.url == ADD
    assert client.session.session_key != before  # step-up rotates the session key
    assert client.get(ADD).status_code == 200


def test_a_recent_check_lets_the_action_through(client):
    sign_in_client(client, staff("agent"), stepped_up_ago=timedelta(minutes=4))
    assert client.get(ADD).status_code == 200


def test_a_protected_post_is_not_run_on_a_stale_check(client, stale_agent):
    response = client.post(reverse("accounts:passkey_register_options"),
                           HTTP_REFERER="http://testserver/my/passkeys/add/")
    assert response.status_code == 302
    assert response.url == f"{STEP_UP}?next=http%3A%2F%2Ftestserver%2Fmy%2Fpasskeys%2Fadd%2F"
    assert "passkey:registration" not in client.session


def test_a_wrong_step_up_code_keeps_the_action_locked(client, stale_agent):
    good = current_totp(stale_agent)
    response = client.post(f"{STEP_UP}?next={ADD}", {"otp_token": f"{(int(good) + 1) % 10**6:06d}"})
    assert response.status_code == 400
    assert "That code is not right" in response.content.decode()
    assert client.get(ADD).status_code == 302


def test_step_up_returns_only_to_this_site(client, stale_agent):
    response = client.post(f"{STEP_UP}?next=https://evil.example/",
                           {"otp_token": current_totp(stale_agent)})
    assert response.url == "/"


def test_step_up_needs_a_signed_in_person(client):
    response = client.get(STEP_UP)
    assert response.status_code == 302 and reverse("accounts:sign_in") in response.url


def test_staff_session_ends_at_its_absolute_lifetime_however_active(client, settings):
    user = staff("agent")
    sign_in_client(client, user)
    session = client.session
    session[SIGNED_IN_AT] = (timezone.now() - timedelta(hours=10, minutes=1)).isoformat()
    session[STEP_UP_AT] = timezone.now().isoformat()
    session.save()
    response = client.get(reverse("recovery:queue"))
    assert response.status_code == 302 and response.url == reverse("accounts:sign_in")
    assert "_auth_user_id" not in client.session


def _stored(client):
    return Session.objects.get(session_key=client.cookies[settings.SESSION_COOKIE_NAME].value)


def _cached_seconds_left(client) -> float:
    """How long the session cache keeps this session's copy."""
    cache = caches[settings.SESSION_CACHE_ALIAS]
    store = import_module(settings.SESSION_ENGINE).SessionStore(
        client.cookies[settings.SESSION_COOKIE_NAME].value)
    key = cache.make_key(store.cache_key)
    if hasattr(cache, "_cache"):  # Redis
        return cache._cache.get_client(key).ttl(key)
    with open(cache._key_to_file(store.cache_key), "rb") as f:  # the file cache
        return pickle.load(f) - time.time()  # noqa: S301 - the test's own cache file


def test_a_session_idle_for_fifteen_minutes_is_over(client):
    assert settings.SESSION_COOKIE_AGE == 15 * 60
    sign_in_client(client, staff("agent"))
    assert client.get(reverse("recovery:queue")).status_code == 200
    # Pages read the session from the cache, which keeps it as long as the row.
    assert 15 * 60 - 5 < _cached_seconds_left(client) <= 15 * 60
    Session.objects.filter(pk=_stored(client).pk).update(expire_date=timezone.now())
    # Fifteen minutes on, the cache has let its copy go; the row says it is over.
    store = import_module(settings.SESSION_ENGINE).SessionStore(
        client.cookies[settings.SESSION_COOKIE_NAME].value)
    caches[settings.SESSION_CACHE_ALIAS].delete(store.cache_key)
    response = client.get(reverse("recovery:queue"))
    assert response.status_code == 302 and response.url.startswith(reverse("accounts:sign_in"))


def test_activity_restarts_the_idle_timeout_with_at_most_one_write_a_minute(client):
    sign_in_client(client, staff("agent"))
    client.get(reverse("recovery:queue"))
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("recovery:queue")).status_code == 200
    assert not [q for q in queries if "django_session" in q["sql"]
                and q["sql"].startswith(("UPDATE", "INSERT"))]
    # A minute later, nearly idle: the next page restarts the fifteen minutes.
    session = client.session
    session[REFRESHED_AT] -= 61
    session.save()
    Session.objects.filter(pk=_stored(client).pk).update(
        expire_date=timezone.now() + timedelta(seconds=30))
    assert client.get(reverse("recovery:queue")).status_code == 200
    assert _stored(client).expire_date > timezone.now() + timedelta(minutes=14)
    assert _cached_seconds_left(client) > 14 * 60
