"""Owing notices: rows in the outbox, written inside the caller's transaction.

Delivery is a worker's job; here we only decide who is owed what. A notice's
idempotency key names the decision and the recipient, so owing the same
notice twice (a retried request, a redelivered task) records it once.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from accounts.models import Identity, RecoveryChannel

from . import clock
from .models import Notice, RecoveryCase
from .outbox import dispatch_on_commit

MEDIUM_FOR_CHANNEL = {
    RecoveryChannel.Kind.EMAIL: Notice.Medium.EMAIL,
    RecoveryChannel.Kind.PHONE: Notice.Medium.SMS,
}


def owe(*, key: str, medium: str, event: str, subject: str, body: str,
        identity: Identity | None = None, channel: RecoveryChannel | None = None,
        case: RecoveryCase | None = None, secret: bool = False, once: bool = False) -> Notice:
    """Record one notice unless one with the same key exists; return it.
    Delivery is queued for when the owing transaction commits. A ``secret``
    notice (a code or link in its body) is blanked once delivered.

    ``once``: the decision owing it cannot happen twice (it won a single-use
    secret in this transaction), so no notice can hold its key yet; it is
    written without the savepoint that survives a duplicate, and a duplicate
    fails the decision instead."""
    def create() -> Notice:
        return Notice.objects.create(
            idempotency_key=key[:128], medium=medium, event=event, subject=subject[:200],
            body=body, identity=identity, channel=channel, case=case,
            carries_secret=secret, created_at=clock.now(),
        )

    if once:
        notice = create()
    else:
        try:
            with transaction.atomic():
                notice = create()
        except IntegrityError:
            return Notice.objects.get(idempotency_key=key[:128])
    dispatch_on_commit(notice)
    return notice


def owe_to_identity(identity: Identity, *, decision: str, event: str, subject: str,
                    body: str, case: RecoveryCase | None = None,
                    skip_channel_id: int | None = None) -> list[Notice]:
    """Notify an identity on every registered (unrevoked) email and phone
    channel, not only the newest: a notice the attacker controls is no notice.
    ``skip_channel_id``: a channel that just changed, and may be the attacker's."""
    channels = identity.channels.filter(
        revoked_at__isnull=True, kind__in=list(MEDIUM_FOR_CHANNEL)
    ).exclude(pk=skip_channel_id)
    return [
        owe(key=f"{decision}:channel:{channel.pk}", medium=MEDIUM_FOR_CHANNEL[channel.kind],
            event=event, subject=subject, body=body, identity=identity, channel=channel,
            case=case)
        for channel in channels
    ]


def owe_to_monitoring(*, decision: str, event: str, subject: str, body: str,
                      identity: Identity | None = None,
                      case: RecoveryCase | None = None, once: bool = False) -> Notice:
    return owe(key=f"{decision}:monitoring", medium=Notice.Medium.MONITORING, event=event,
               subject=subject, body=body, identity=identity, case=case, once=once)
