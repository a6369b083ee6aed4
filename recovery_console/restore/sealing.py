"""A provider's temporary credential kept between the worker that received
it and the one delivery it is owed (the agent reading it out): sealed with
Fernet (AES-128-CBC and HMAC-SHA256) under a key derived from SECRET_KEY for
this purpose alone, never in clear at rest, and wiped once shown."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from django.utils.crypto import salted_hmac

PURPOSE = "recovery_console.restore.sealing.provider-credential"


def _fernet() -> Fernet:
    key = salted_hmac(PURPOSE, "fernet-key", algorithm="sha256").digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def unseal(sealed: str) -> str | None:
    """The secret, or None when the seal does not open (another SECRET_KEY)."""
    try:
        return _fernet().decrypt(sealed.encode()).decode()
    except InvalidToken:
        return None
