"""Timed work queued from decisions: a task at each deadline.

Redis redelivers a task whose ETA lies beyond its visibility timeout (one
hour) again and again, so only deadlines under MAX_COUNTDOWN get a task of
their own; the minute sweep covers the rest, and every use checks the deadline
itself. A lost task therefore costs at most a minute of lateness in the
bookkeeping, never a credential that works too long.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from . import dispatch

log = logging.getLogger(__name__)
MAX_COUNTDOWN_SECONDS = 50 * 60


def expire_case_at(case_id: int, deadline: datetime) -> None:
    """After the current transaction commits, queue the case's expiry check
    for just after ``deadline``."""

    def enqueue() -> None:
        delay = (deadline - timezone.now()).total_seconds() + 1
        if delay > MAX_COUNTDOWN_SECONDS:
            return
        try:
            dispatch.send("expire_recovery_case", case_id, countdown=max(delay, 0))
        except Exception:  # the broker is down: the minute sweep covers it
            log.warning("expiry of case %s not scheduled; the sweep will catch it", case_id)

    transaction.on_commit(enqueue)
