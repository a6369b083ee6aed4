"""Rate limits: attempts counted per subject and per client address.

A subject is what is being guessed at: an account (sign-in and step-up), a
case (channel code checks), a recovery credential (redemption), a person asked
about (self-service requests), a SCIM client. Each attempt is counted twice,
against the subject and against the client address
(``audit.events.client_address``), before anything is compared, so
concurrent guesses cannot all slip in under a limit.

The counting is django-ratelimit's (``get_usage``): fixed windows in the
shared cache (Redis in production), an atomic add-then-increment, a key that
names its window and expires a little after it, so once the window has passed
the count starts from nothing. A flood of attempts slows an attacker but
never locks the real person out of their account or case for good. What no
limiter does is kept here: the two counters per attempt, taking back an
attempt that succeeded (counted as "forgiven" in the same window), and the
audited refusal of ``rate_limited``.

The numbers come from settings (names below), with the defaults given here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from django.conf import settings
from django.db import models
from django.http import HttpRequest, HttpResponse
from django_ratelimit.core import get_usage

from audit.events import client_address, record


@dataclass(frozen=True)
class Limit:
    """At most ``per_subject`` and ``per_address`` attempts per ``window``
    seconds; each is a (setting name, default) pair read at every use. Only a
    limit that ``forgives`` takes back attempts that succeeded (and pays for
    reading what it forgave on every attempt)."""

    name: str
    per_subject: tuple[str, int]
    per_address: tuple[str, int]
    window: tuple[str, int]
    forgives: bool = False

    def value(self, field: str) -> int:
        setting, default = getattr(self, field)
        return int(getattr(settings, setting, default))


SIGN_IN = Limit("sign-in", ("SIGN_IN_MAX_FAILURES_PER_ACCOUNT", 5),
                ("SIGN_IN_MAX_FAILURES_PER_ADDRESS", 20),
                ("SIGN_IN_FAILURE_WINDOW_SECONDS", 15 * 60), forgives=True)
CODE_CHECK = Limit("code-check", ("RATE_LIMIT_CODE_CHECKS_PER_CASE", 10),
                   ("RATE_LIMIT_CODE_CHECKS_PER_ADDRESS", 60),
                   ("RATE_LIMIT_CODE_CHECK_WINDOW_SECONDS", 15 * 60))
SELF_SERVICE = Limit("self-service", ("RECOVERY_SELF_SERVICE_MAX_PER_ACCOUNT", 3),
                     ("RECOVERY_SELF_SERVICE_MAX_PER_ADDRESS", 10),
                     ("RECOVERY_SELF_SERVICE_WINDOW_SECONDS", 60 * 60))
REDEEM = Limit("redeem", ("RATE_LIMIT_REDEMPTIONS_PER_CREDENTIAL", 10),
               ("RATE_LIMIT_REDEMPTIONS_PER_ADDRESS", 20),
               ("RATE_LIMIT_REDEMPTION_WINDOW_SECONDS", 15 * 60))
# SCIM clients: every request, per client (subject) and per address; a bad
# bearer token counts against the subject "unknown-client" and its address.
SCIM = Limit("scim", ("RATE_LIMIT_SCIM_REQUESTS_PER_CLIENT", 1200),
             ("RATE_LIMIT_SCIM_REQUESTS_PER_ADDRESS", 2400),
             ("RATE_LIMIT_SCIM_WINDOW_SECONDS", 60))


def _count(limit: Limit, counter: str, value: str, most: int, *, add: bool) -> int:
    """The counter's value in its window for ``value``, after adding one if
    ``add``; 0 when the cache did not answer. The key is the normalised value,
    so the request (only read to find a key) is not needed."""
    key = value.strip().lower()
    usage = get_usage(None, group=f"{limit.name}:{counter}", key=lambda _group, _request: key,
                      rate=(most, max(limit.value("window"), 1)), increment=add)
    return usage["count"] if usage else 0


def _scopes(limit: Limit, subject: str, address: str | None) -> list[tuple[str, str, int]]:
    scopes = [("subject", subject, limit.value("per_subject"))]
    if address:
        scopes.append(("address", address, limit.value("per_address")))
    return scopes


def attempt(limit: Limit, subject: str, address: str | None) -> bool:
    """Count one attempt against the subject and the address; False when
    either is over its limit for this window (the attempt must not go on),
    or when the cache could not count it."""
    allowed = True
    for scope, value, most in _scopes(limit, subject, address):
        tried = _count(limit, scope, value, most, add=True)
        forgiven = (_count(limit, f"{scope}:forgiven", value, most, add=False)
                    if limit.forgives else 0)
        allowed = allowed and 0 < tried and tried - forgiven <= most
    return allowed


def forgive(limit: Limit, subject: str, address: str | None) -> None:
    """Take back one attempt that succeeded (a real sign-in is no failure)."""
    if not limit.forgives:
        raise ValueError(f"the {limit.name} limit takes back no attempt")
    for scope, value, most in _scopes(limit, subject, address):
        _count(limit, f"{scope}:forgiven", value, most, add=True)


def count(limit: Limit, subject: str) -> int:
    """Attempts against ``subject`` in the current window, less those forgiven."""
    most = limit.value("per_subject")
    tried = _count(limit, "subject", subject, most, add=False)
    if not limit.forgives:
        return tried
    return max(tried - _count(limit, "subject:forgiven", subject, most, add=False), 0)


def rate_limited(limit: Limit, *, subject: Callable[..., str | None],
                 refused: Callable[..., HttpResponse], target: type[models.Model],
                 event: str = "rate_limited") -> Callable:
    """Count every POST to the view against ``subject(request, *args)`` (None:
    not an attempt, e.g. a form without a code) and the client's address.
    Over the limit, the view does not run: the attempt is audited as
    ``event`` and ``refused(request, *args)`` answers instead."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method == "POST":
                key = subject(request, *args, **kwargs)
                if key and not attempt(limit, key, client_address(request)):
                    record(event, target=target, request=request, reason="throttled",
                           limit=limit.name)
                    return refused(request, *args, **kwargs)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
