"""Failed staff sign-ins and step-up codes, counted per account and per
client address: the ``SIGN_IN`` limit of ``accounts.ratelimit`` (fixed
windows in the shared cache, so a flood slows an attacker but never locks
the real person out for good)."""

from . import ratelimit
from .ratelimit import SIGN_IN


def is_blocked(username: str, address: str | None) -> bool:
    return ratelimit.blocked(SIGN_IN, username, address)


def count_attempt(username: str, address: str | None) -> bool:
    """Count an attempt before its secret is compared, so that concurrent
    guesses cannot all slip in under the limit; False when over it."""
    return ratelimit.attempt(SIGN_IN, username, address)


def forgive_attempt(username: str, address: str | None) -> None:
    """A successful sign-in does not count against the account or address."""
    ratelimit.forgive(SIGN_IN, username, address)


def failures(username: str) -> int:
    return ratelimit.count(SIGN_IN, username)
