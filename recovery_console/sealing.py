"""Secrets the console must read back (not only compare) are kept sealed:
Fernet (AES-128-CBC and HMAC-SHA256) under a key derived from SECRET_KEY for
one purpose alone, so a seal made for one use never opens for another.
Changing SECRET_KEY makes every seal unreadable (``unseal`` gives None)."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from django.utils.crypto import salted_hmac


def fernet(purpose: str) -> Fernet:
    """The Fernet of ``purpose`` (a dotted name naming the use)."""
    key = salted_hmac(purpose, "fernet-key", algorithm="sha256").digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret: str, purpose: str) -> str:
    return fernet(purpose).encrypt(secret.encode()).decode()


def unseal(sealed: str, purpose: str) -> str | None:
    """The secret, or None when the seal does not open (another purpose or
    another SECRET_KEY)."""
    try:
        return fernet(purpose).decrypt(sealed.encode()).decode()
    except InvalidToken:
        return None
