"""Counting failed sign-ins per account and per client address.

Counters live in the shared cache (Redis in production) with a fixed window:
once the window passes, the count starts again, so a flood of bad attempts
slows an attacker but never locks the real person out for good.
"""

import hashlib

from django.conf import settings
from django.core.cache import cache


def _key(scope: str, value: str) -> str:
    digest = hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]
    return f"signin-attempts:{scope}:{digest}"


def _limits(username: str, address: str | None) -> list[tuple[str, int]]:
    keys = [(_key("account", username), settings.SIGN_IN_MAX_FAILURES_PER_ACCOUNT)]
    if address:
        keys.append((_key("address", address), settings.SIGN_IN_MAX_FAILURES_PER_ADDRESS))
    return keys


def is_blocked(username: str, address: str | None) -> bool:
    return any((cache.get(key) or 0) >= limit for key, limit in _limits(username, address))


def count_attempt(username: str, address: str | None) -> None:
    """Count an attempt before its secret is compared, so that concurrent
    guesses cannot all slip in under the limit."""
    window = settings.SIGN_IN_FAILURE_WINDOW_SECONDS
    for key, _limit in _limits(username, address):
        if cache.add(key, 1, timeout=window):
            continue
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=window)


def forgive_attempt(username: str, address: str | None) -> None:
    """A successful sign-in does not count against the account or address."""
    for key, _limit in _limits(username, address):
        try:
            if cache.decr(key) <= 0:
                cache.delete(key)
        except ValueError:
            pass


def failures(username: str) -> int:
    return cache.get(_key("account", username)) or 0
