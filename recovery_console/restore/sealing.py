"""A provider's temporary credential kept between the worker that received
it and the one delivery it is owed (the agent reading it out): sealed
(``recovery_console.sealing``) for this purpose alone, never in clear at
rest, and wiped once shown."""

from __future__ import annotations

from .. import sealing

PURPOSE = "recovery_console.restore.sealing.provider-credential"


def seal(secret: str) -> str:
    return sealing.seal(secret, PURPOSE)


def unseal(sealed: str) -> str | None:
    """The secret, or None when the seal does not open (another SECRET_KEY)."""
    return sealing.unseal(sealed, PURPOSE)
