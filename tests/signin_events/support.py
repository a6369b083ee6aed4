"""Sending signed sign-in events as a relay would, and the rows a refused
request must leave untouched."""

from __future__ import annotations

import json
import secrets

from auditlog.models import LogEntry
from django.urls import reverse

from recovery_console import clock, workflow
from recovery_console.models import Alert, RecoveryCase
from recovery_console.signin_events import signing
from recovery_console.signin_events.models import EventNonce, SignInEvent
from tests.recovery.support import approved
from tests.sessions import passkey_for

ENDPOINT = reverse("signin_events:receive")


def body_of(*events: dict) -> bytes:
    return json.dumps({"events": list(events)}).encode()


def event(subject: str, **fields) -> dict:
    return {"type": "sign_in", "subject": subject,
            "occurred_at": clock.now().isoformat(), **fields}


def signed_post(client, source, secret: str, body: bytes, *, at: int | None = None,
                nonce: str | None = None, content_type: str = "application/json",
                header: str | None = None):
    at = int(clock.now().timestamp()) if at is None else at
    nonce = nonce or secrets.token_urlsafe(18)
    if header is None:
        header = signing.header(source.key_id, secret, at, nonce, body)
    return client.post(ENDPOINT, body, content_type=content_type,
                       HTTP_X_RECOVERY_SIGNATURE=header)


def recorded() -> tuple[int, int, int, int]:
    """What any accepted request adds to: events, nonces, audit entries, alerts."""
    return (SignInEvent.objects.count(), EventNonce.objects.count(), LogEntry.objects.count(),
            Alert.objects.count())


def completed_recovery(case: RecoveryCase, agent) -> RecoveryCase:
    """``case`` approved, its credential redeemed and a new passkey enrolled:
    the watch period runs."""
    approved(case, agent)
    issued = workflow.issue_credential(case, agent)
    opened = workflow.redeem(issued.credential.handle, issued.code)
    workflow.complete(opened.session, passkey_for(case.identity.user)[0])
    case.refresh_from_db()
    assert case.state == RecoveryCase.State.COMPLETED and case.watch_until
    return case
