"""The provider's RSA signing keys, as PEM text.

Production takes the active key from the environment (OIDC_RSA_PRIVATE_KEY)
and refuses to start without it; the keys it rotated away from stay
published in the JWKS while ID tokens they signed may still be checked
(OIDC_RSA_PRIVATE_KEYS_INACTIVE, PEM blocks one after another). On a
developer's machine a key is generated the first time the settings need one,
under var/ (never committed), and kept there.

Imported by the settings: nothing here may import Django's configured parts.
``python -m recovery_console.oidc.keys`` prints a new key (docs/restore-targets.md).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

PEM_BLOCK = re.compile(r"-----BEGIN [A-Z ]+-----.+?-----END [A-Z ]+-----", re.DOTALL)


def new_private_key() -> str:
    """A fresh RSA 2048-bit private key as PKCS#8 PEM (what RS256 needs)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def pem_blocks(text: str) -> list[str]:
    """Each PEM block in ``text`` (an environment variable may hold several)."""
    return [block + "\n" for block in PEM_BLOCK.findall(text.replace("\\n", "\n"))]


def development_key(path: Path) -> str:
    """The development key kept at ``path``, made the first time (owner-only file).
    Two processes starting at once may both make one: the first to link it wins."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f"{path.name}.{os.getpid()}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(new_private_key())
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text()


if __name__ == "__main__":
    print(new_private_key(), end="")
