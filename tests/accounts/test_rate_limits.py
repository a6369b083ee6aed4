"""The rate limits hold when guesses arrive together, count a subject however
it is spelled, and take back only what succeeded; the real person gets in
once the window has passed."""

from types import SimpleNamespace

import django_ratelimit.core
import pytest
from auditlog.models import LogEntry
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import ratelimit
from tests.conftest import IN_CI
from tests.factories import PASSWORD, current_totp, staff
from tests.security.test_attacks import later_window
from tests.services import race
from tests.sessions import sign_in_client

SIGN_IN = reverse("accounts:sign_in")
STEP_UP = reverse("accounts:step_up")


@pytest.fixture
def on_redis():
    if not settings.CACHES["default"]["BACKEND"].endswith("RedisCache"):
        if IN_CI:
            pytest.fail("this test needs Redis")
        pytest.skip("needs Redis (set REDIS_URL)")


def refusals(event: str, reason: str) -> int:
    return LogEntry.objects.filter(additional_data__event=event,
                                   additional_data__reason=reason).count()


def wrong_code(user) -> str:
    return f"{(int(current_totp(user)) + 1) % 10**6:06d}"


@pytest.mark.django_db(transaction=True)
def test_sixteen_concurrent_wrong_sign_ins_reach_the_password_check_only_up_to_the_limit(
        on_postgres, on_redis, monkeypatch):
    agent = staff("agent")
    most = settings.SIGN_IN_MAX_FAILURES_PER_ACCOUNT
    guess = {"username": agent.username, "password": "wrong-password-0", "otp_token": "000000"}
    clients = [Client(REMOTE_ADDR=f"198.51.100.{n + 1}") for n in range(16)]
    statuses, _ = race(*[(lambda c=c: c.post(SIGN_IN, guess).status_code) for c in clients])
    assert statuses == [400] * 16
    assert refusals("sign_in_refused", "bad_credentials") == most
    assert refusals("sign_in_refused", "throttled") == 16 - most
    assert ratelimit.count(ratelimit.SIGN_IN, agent.username) == 16
    good = {"username": agent.username, "password": PASSWORD, "otp_token": current_totp(agent)}
    assert "Too many failed sign-ins" in Client().post(SIGN_IN, good).content.decode()
    later_window(monkeypatch, ratelimit.SIGN_IN)
    assert Client().post(SIGN_IN, good).status_code == 302


@pytest.mark.django_db(transaction=True)
def test_sixteen_concurrent_wrong_step_up_codes_are_checked_only_up_to_the_limit(
        on_postgres, on_redis, settings):
    settings.SIGN_IN_MAX_FAILURES_PER_ACCOUNT = 3
    agent = staff("agent")
    wrong = wrong_code(agent)
    clients = [sign_in_client(Client(), agent, stepped_up_ago=None) for _ in range(16)]
    statuses, _ = race(*[(lambda c=c: c.post(STEP_UP, {"otp_token": wrong}).status_code)
                         for c in clients])
    assert statuses == [400] * 16
    assert refusals("step_up_refused", "bad_second_factor") == 3
    assert refusals("step_up_refused", "throttled") == 13


@pytest.mark.django_db
def test_concurrent_attempts_in_the_shared_cache_are_held_to_the_limit(on_redis, settings):
    settings.RATE_LIMIT_REDEMPTIONS_PER_CREDENTIAL = 7
    results, _ = race(*[lambda: ratelimit.attempt(ratelimit.REDEEM, "handle:x", None)] * 64)
    assert sorted(results) == [False] * 57 + [True] * 7


@pytest.mark.django_db
def test_step_up_codes_count_with_sign_ins_and_over_the_limit_even_the_right_one_is_not_checked(
        settings, monkeypatch):
    settings.SIGN_IN_MAX_FAILURES_PER_ACCOUNT = 3
    agent = staff("agent")
    client = sign_in_client(Client(), agent, stepped_up_ago=None)
    for _ in range(3):
        assert client.post(STEP_UP, {"otp_token": wrong_code(agent)}).status_code == 400
    # django-otp slows a device after wrong codes; only the rate limit may stop this one.
    TOTPDevice.objects.filter(user=agent).update(throttling_failure_count=0,
                                                 throttling_failure_timestamp=None)
    throttled = client.post(STEP_UP, {"otp_token": current_totp(agent)})
    assert throttled.status_code == 400
    assert "Too many failed sign-ins" in throttled.content.decode()
    assert "That code is not right" not in throttled.content.decode()
    assert refusals("step_up_refused", "throttled") == 1
    assert TOTPDevice.objects.get(user=agent).last_t == -1  # the code was never checked
    later_window(monkeypatch, ratelimit.SIGN_IN)
    assert client.post(STEP_UP, {"otp_token": current_totp(agent)}).status_code == 302
    assert ratelimit.count(ratelimit.SIGN_IN, agent.username) == 0


def test_a_subject_is_counted_whatever_its_case_or_surrounding_spaces():
    for spelling in ("Someone", "someone ", " SOMEONE"):
        ratelimit.attempt(ratelimit.SIGN_IN, spelling, None)
    assert ratelimit.count(ratelimit.SIGN_IN, "someone") == 3


def test_a_success_forgives_one_attempt_against_the_subject_and_the_address():
    for _ in range(4):
        ratelimit.attempt(ratelimit.SIGN_IN, "someone", "192.0.2.1")
    ratelimit.forgive(ratelimit.SIGN_IN, "someone", "192.0.2.1")
    assert ratelimit.count(ratelimit.SIGN_IN, "someone") == 3
    assert [ratelimit.attempt(ratelimit.SIGN_IN, "someone", "192.0.2.1")
            for _ in range(3)] == [True, True, False]


def test_a_success_forgiven_after_its_window_ended_refuses_nobody_in_the_next(monkeypatch):
    assert ratelimit.attempt(ratelimit.SIGN_IN, "someone", "192.0.2.1")
    later_window(monkeypatch, ratelimit.SIGN_IN)
    ratelimit.forgive(ratelimit.SIGN_IN, "someone", "192.0.2.1")
    assert ratelimit.count(ratelimit.SIGN_IN, "someone") == 0
    tries = [ratelimit.attempt(ratelimit.SIGN_IN, "someone", "192.0.2.1") for _ in range(7)]
    assert tries[0] and not tries[-1]


@pytest.mark.parametrize("window", [0, -5])
def test_a_window_setting_below_one_second_counts_per_second_instead_of_failing(
        settings, monkeypatch, window):
    settings.SIGN_IN_FAILURE_WINDOW_SECONDS = window
    at = SimpleNamespace(time=lambda: 1_800_000_000.0)
    monkeypatch.setattr(django_ratelimit.core, "time", at)
    assert ratelimit.attempt(ratelimit.SIGN_IN, "someone", None)
    assert ratelimit.count(ratelimit.SIGN_IN, "someone") == 1
    at.time = lambda: 1_800_000_001.0
    assert ratelimit.count(ratelimit.SIGN_IN, "someone") == 0


def test_only_the_sign_in_limit_takes_back_an_attempt():
    """A redemption, a code check or a SCIM request that succeeded still counts:
    those limits cap every attempt, and taking one back is refused outright."""
    ratelimit.attempt(ratelimit.REDEEM, "credential-1", "192.0.2.9")
    with pytest.raises(ValueError, match="redeem"):
        ratelimit.forgive(ratelimit.REDEEM, "credential-1", "192.0.2.9")
    assert ratelimit.count(ratelimit.REDEEM, "credential-1") == 1
