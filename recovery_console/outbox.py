"""Delivering the outbox: each notice at most once, retried with backoff.

The database is the source of truth. A notice is dispatched to a worker when
the decision that owes it commits; should that dispatch be lost (broker down,
worker killed), the beat sweep finds the notice still unsent and due, and
dispatches it again. Delivery locks the row and checks ``sent_at`` first, so a
notice dispatched twice is sent once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import transaction

from . import clock, dispatch, messaging
from .models import Notice

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
REDACTED = "[Removed once delivered: it held a one-time code or link.]"
DISPATCH_LEASE = timedelta(minutes=5)
SWEEP_BATCH = 500
DISPATCH_CHUNK = 500  # notices per task when a decision owes thousands at once


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, 4 min ... capped at 30 minutes: a Celery countdown
    must stay well under the Redis visibility timeout (one hour)."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 1800))


def dispatch_on_commit(notice: Notice) -> None:
    """Queue delivery once the owing transaction commits; a failed enqueue is
    left to the sweep rather than failing the decision."""

    def enqueue() -> None:
        try:
            dispatch.send("deliver_notice", notice.pk)
        except Exception:  # the broker is down: the sweep will find the notice
            log.warning("notice %s not dispatched now; the outbox sweep will retry", notice.pk)

    transaction.on_commit(enqueue)


def dispatch_many_on_commit(notice_ids: list[int]) -> None:
    """Queue delivery of many notices (a wave's invitations) once the owing
    transaction commits: one task per chunk, not one per notice. A chunk
    lost with the broker is left to the sweep, like a single dispatch."""
    chunks = [notice_ids[i:i + DISPATCH_CHUNK] for i in range(0, len(notice_ids), DISPATCH_CHUNK)]

    def enqueue() -> None:
        for chunk in chunks:
            try:
                dispatch.send("deliver_notices", chunk)
            except Exception:  # the broker is down: the sweep will find the notices
                log.warning("%d notices not dispatched now; the outbox sweep will retry",
                            len(chunk))
                return

    if chunks:
        transaction.on_commit(enqueue)


def deliver_each(notice_ids: list[int]) -> dict[str, int]:
    """Deliver a chunk one notice at a time; a notice whose medium fails now
    waits for its retry (``deliver`` recorded the attempt) and the sweep
    dispatches it again when due."""
    outcomes: dict[str, int] = {}
    for notice_id in notice_ids:
        try:
            outcome = deliver(notice_id)
        except messaging.DeliveryFailed:
            outcome = "retrying"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def deliver(notice_id: int, *, send: Callable[[Notice], None] | None = None) -> str:
    """Send one notice if it is still unsent; returns what happened.

    Raises DeliveryFailed (after recording the attempt) when the medium
    should be retried later. ``send`` hands the notice to its medium
    (default ``messaging.send``; a replay of past decisions passes one that
    sends nothing: see seed_recovery_demo)."""
    now = clock.now()
    failure = None
    with transaction.atomic():
        notice = (
            Notice.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("channel", "identity")
            .filter(pk=notice_id, sent_at__isnull=True, failed_at__isnull=True)
            .first()
        )
        if notice is None:
            return "skipped"  # already sent, given up on, or being sent right now
        notice.attempts += 1
        try:
            (send or messaging.send)(notice)
        except messaging.DeliveryFailed as exc:
            failure = exc
            notice.last_error = str(exc)[:500]
            if notice.attempts >= MAX_ATTEMPTS:
                notice.failed_at = now
            else:
                notice.next_attempt_at = now + backoff(notice.attempts)
        except ValueError as exc:  # nothing to retry: no usable address
            notice.last_error, notice.failed_at = str(exc)[:500], now
        else:
            notice.sent_at, notice.last_error = now, ""
            if notice.carries_secret and settings.REDACT_DELIVERED_SECRETS:
                notice.body = REDACTED
        notice.save(update_fields=["attempts", "last_error", "failed_at", "next_attempt_at",
                                   "sent_at", "body"])
    if failure is not None and notice.failed_at is None:
        raise failure
    return "sent" if notice.sent_at else "failed"


def sweep_due() -> list[int]:
    """Lease every due, unsent notice and return their ids for dispatch."""
    now = clock.now()
    with transaction.atomic():
        ids = list(
            Notice.objects.select_for_update(skip_locked=True)
            .filter(sent_at__isnull=True, failed_at__isnull=True, next_attempt_at__lte=now)
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:SWEEP_BATCH]
        )
        Notice.objects.filter(pk__in=ids).update(next_attempt_at=now + DISPATCH_LEASE)
    return ids
