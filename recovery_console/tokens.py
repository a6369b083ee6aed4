"""Secrets the recovery workflow hands out, and the keyed hashes it keeps.

Nothing here is stored in clear: the database holds HMAC-SHA256 digests under
``RECOVERY_CREDENTIAL_HMAC_KEY``, each with its purpose in the message so a
digest of one kind can never stand in for another.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.conf import settings

# Crockford-style base32 without look-alikes: easy to read out on the phone.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # 31 symbols, ~4.95 bits each
CREDENTIAL_SYMBOLS = 20  # 20 * log2(31) ≈ 99 bits, comfortably above 80


def digest(purpose: str, value: str) -> str:
    key = settings.RECOVERY_CREDENTIAL_HMAC_KEY.encode()
    return hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def matches(purpose: str, value: str, expected_digest: str) -> bool:
    return hmac.compare_digest(digest(purpose, value), expected_digest)


def new_channel_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def new_token() -> str:
    """A URL-safe bearer token (256 bits) for links and sessions."""
    return secrets.token_urlsafe(32)


def new_handle() -> str:
    """The lookup part of a recovery link: random, but useless without the code."""
    return secrets.token_urlsafe(16)


REFERENCE_SYMBOLS = 8  # 8 * log2(31) ≈ 40 bits: a lookup no one can enumerate


def new_reference() -> str:
    """What a person types, with the code, at the short fixed address when the
    credential was read out: the link's handle is too long to say aloud."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(REFERENCE_SYMBOLS))
    return f"{raw[:4]}-{raw[4:]}"


def normalise_reference(typed: str) -> str:
    raw = "".join(ch for ch in typed.upper() if ch.isalnum())
    return f"{raw[:4]}-{raw[4:]}" if len(raw) == REFERENCE_SYMBOLS else raw


def channel_fingerprint(kind: str, address: str, device_id: int | None) -> str:
    """A keyed hash of what a channel reaches, so a credential can tell later
    whether the channel it went to is still the same one."""
    return digest("channel", f"{kind}:{address}:{device_id or ''}")


def new_credential_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CREDENTIAL_SYMBOLS))
    return "-".join(raw[i:i + 5] for i in range(0, CREDENTIAL_SYMBOLS, 5))


def normalise_credential_code(typed: str) -> str:
    """Accept the code as typed or read: any case, spaces or dashes."""
    raw = "".join(ch for ch in typed.upper() if ch.isalnum())
    return "-".join(raw[i:i + 5] for i in range(0, len(raw), 5))
