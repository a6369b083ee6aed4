"""The one interface the console speaks to an identity verification provider
(a document + liveness check done by the person on the provider's pages):
``start`` a verification bound to a subject, and ``read_callback``, which
checks the provider's signed callback and says what it reports. Provider
code lives in one module each (``persona``); like the restore connectors,
a provider knows no case, model or database.

HTTP goes through the restore connectors' ``Connector._send`` (standard
library, a timeout, no proxy from the environment, redirects refused), and
a failed call is the same ``ProviderError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from ...restore.providers import Connector, Kind, ProviderError

__all__ = ["CallbackRefused", "Kind", "ProviderError", "Result", "Started",
           "VerificationProvider", "PASSED", "FAILED", "UNDECIDED"]

PASSED, FAILED, UNDECIDED = "passed", "failed", ""


@dataclass(frozen=True)
class Started:
    """A verification the provider opened: its id there (the callback names
    it), the link the person follows (sent only to a channel on file), and
    the provider's request id."""

    verification_id: str
    link: str
    request_id: str = ""


@dataclass(frozen=True)
class Result:
    """What a callback whose signature checked out reports. ``outcome`` is
    PASSED, FAILED, or UNDECIDED (an event that decides nothing, e.g. the
    person opened the link). ``signed_at`` is when the provider signed it;
    ``created_at`` when the provider says the event happened."""

    event_id: str
    event: str
    verification_id: str
    subject: str  # the reference the console sent when starting it
    template: str
    status: str
    outcome: str
    signed_at: datetime
    created_at: datetime | None


class CallbackRefused(Exception):
    """A callback that is not the provider's, or cannot be read: ``reason``
    is stable (audited), ``message`` says what was wrong."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


class VerificationProvider(Connector):
    """One provider. ``start`` and ``read_callback`` are the interface."""

    provider: ClassVar[str] = ""
    label: ClassVar[str] = ""

    def start(self, *, subject: str, idempotency_key: str) -> Started:
        """Open a verification for ``subject`` (the console's reference for
        the person, echoed back by the callback) and return its link."""
        raise NotImplementedError

    def read_callback(self, body: bytes, headers: Mapping[str, str]) -> Result:
        """The callback's signature checked against the shared secret (else
        CallbackRefused), then its content read. Freshness, subject and
        replay are the workflow's to check against what it started."""
        raise NotImplementedError
