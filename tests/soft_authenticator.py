"""A software WebAuthn authenticator (ES256, "none" attestation) that answers
the options the server gives, so ceremonies can be driven through HTTP."""

from __future__ import annotations

import base64
import hashlib
import json
import os

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, AT = 0x01, 0x04, 0x40


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SoftAuthenticator:
    def __init__(self, rp_id: str = "localhost", origin: str = "http://localhost:8000"):
        self.rp_id, self.origin = rp_id, origin
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.sign_count = 0
        self.user_handle = b""

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"),
                            -3: numbers.y.to_bytes(32, "big")})

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge,
                           "origin": origin or self.origin, "crossOrigin": False}).encode()

    def create(self, options: dict, *, origin: str | None = None, rp_id: str | None = None,
               user_verified: bool = True) -> dict:
        """The JSON a browser's credential.toJSON() gives after create()."""
        self.user_handle = base64.urlsafe_b64decode(options["user"]["id"] + "==")
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        flags = UP | AT | (UV if user_verified else 0)
        auth_data = (
            hashlib.sha256((rp_id or self.rp_id).encode()).digest()
            + bytes([flags]) + self.sign_count.to_bytes(4, "big")
            + bytes(16) + len(self.credential_id).to_bytes(2, "big") + self.credential_id
            + self._cose_key()
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": b64(self.credential_id), "rawId": b64(self.credential_id), "type": "public-key",
            "response": {"clientDataJSON": b64(client_data),
                         "attestationObject": b64(attestation), "transports": ["internal"]},
            "clientExtensionResults": {}, "authenticatorAttachment": "platform",
        }

    def get(self, options: dict, *, origin: str | None = None, rp_id: str | None = None,
            user_verified: bool = True) -> dict:
        """The JSON a browser's credential.toJSON() gives after get()."""
        self.sign_count += 1
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        flags = UP | (UV if user_verified else 0)
        auth_data = (hashlib.sha256((rp_id or self.rp_id).encode()).digest()
                     + bytes([flags]) + self.sign_count.to_bytes(4, "big"))
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(),
                                  ec.ECDSA(hashes.SHA256()))
        return {
            "id": b64(self.credential_id), "rawId": b64(self.credential_id), "type": "public-key",
            "response": {"clientDataJSON": b64(client_data), "authenticatorData": b64(auth_data),
                         "signature": b64(signature), "userHandle": b64(self.user_handle)},
            "clientExtensionResults": {}, "authenticatorAttachment": "platform",
        }
