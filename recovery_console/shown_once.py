"""A read-out code crosses one redirect, sealed, and is shown once.

Issuing is a POST; the code is shown by the GET it redirects to, so a reload
or "back" never issues again. Between the two the code sits in the agent's
own session, encrypted (Fernet: AES-128-CBC and HMAC-SHA256) under a key
derived from SECRET_KEY for this purpose alone: the session store never
holds it in clear. Showing it removes it; it also dies with the credential's
lifetime, whichever comes first.
"""

from __future__ import annotations

from datetime import timedelta

from cryptography.fernet import Fernet, InvalidToken
from django.contrib.sessions.backends.base import SessionBase

from . import clock, sealing
from .models import RecoveryCredential

SESSION_KEY = "recovery_console.issued_code"
PURPOSE = "recovery_console.shown_once.issued-code"


def _fernet() -> Fernet:
    return sealing.fernet(PURPOSE)


def _now() -> int:
    return int(clock.now().timestamp())


def keep(session: SessionBase, credential: RecoveryCredential, code: str) -> None:
    """Seal ``code`` for the next page that shows ``credential`` (one at a
    time: a newer credential's code replaces an older one not yet shown)."""
    session[SESSION_KEY] = {"credential": credential.pk,
                            "sealed": _fernet().encrypt_at_time(code.encode(), _now()).decode()}


def take(session: SessionBase, credential: RecoveryCredential) -> str | None:
    """The code of ``credential`` if it is waiting to be shown, removed from
    the session as it is read; None once shown (or never kept, or expired)."""
    kept = session.get(SESSION_KEY)
    if not kept or kept.get("credential") != credential.pk:
        return None
    del session[SESSION_KEY]
    lifetime = max(credential.expires_at - credential.created_at, timedelta(seconds=1))
    try:
        return _fernet().decrypt_at_time(kept["sealed"].encode(),
                                         int(lifetime.total_seconds()), _now()).decode()
    except (InvalidToken, KeyError, AttributeError):
        return None
