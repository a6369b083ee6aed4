"""The signature of a posted event, and the source secret kept sealed.

A sender signs ``<t>.<n>.<raw body>`` with HMAC-SHA256 under its source's
secret and sends ``X-Recovery-Signature: k=<key id>,t=<unix seconds>,
n=<nonce>,v1=<hex digest>``. The secret is sealed
(``recovery_console.sealing``) for this purpose alone: the endpoint needs
the secret itself to recompute the digest, so a one-way hash (as for bearer
tokens) cannot serve.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from .. import sealing

HEADER = "X-Recovery-Signature"
PURPOSE = "recovery_console.signin_events.source-secret"
NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
KEY_ID = re.compile(r"^src_[a-f0-9]{16}$")


@dataclass(frozen=True)
class Signature:
    key_id: str
    timestamp: int
    nonce: str
    digest: str


def parse(header: str) -> Signature | None:
    """The signature header's parts, or None when it is not well formed."""
    parts = {}
    for item in header.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep or name in parts:
            return None
        parts[name] = value
    try:
        signature = Signature(parts["k"], int(parts["t"]), parts["n"], parts["v1"].lower())
    except (KeyError, ValueError):
        return None
    if not (KEY_ID.match(signature.key_id) and NONCE.match(signature.nonce)
            and re.fullmatch(r"[0-9a-f]{64}", signature.digest)):
        return None
    return signature


def sign(secret: str, timestamp: int, nonce: str, body: bytes) -> str:
    """The hex digest a sender puts in ``v1``."""
    message = f"{timestamp}.{nonce}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def header(key_id: str, secret: str, timestamp: int, nonce: str, body: bytes) -> str:
    """The whole header value, as a sender writes it (tests and the docs' relay)."""
    return f"k={key_id},t={timestamp},n={nonce},v1={sign(secret, timestamp, nonce, body)}"


def verifies(secret: str, signature: Signature, body: bytes) -> bool:
    return hmac.compare_digest(sign(secret, signature.timestamp, signature.nonce, body),
                               signature.digest)


def new_key_id() -> str:
    return f"src_{secrets.token_hex(8)}"


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def seal(secret: str) -> str:
    return sealing.seal(secret, PURPOSE)


def unseal(sealed: str) -> str | None:
    """The secret, or None when the seal does not open (another SECRET_KEY)."""
    return sealing.unseal(sealed, PURPOSE)
