"""Getting recorded self-service requests resolved: by a worker as soon as
the request commits, or by the beat sweep if that task was lost.

The database is the source of truth, as for the notice outbox: the request
page writes a ``SelfServiceRequest`` row and queues its resolution once the
row commits. Should the broker be down at that moment, or the task be lost
with a worker, the row stays, and the minute sweep resolves every row older
than ``SWEEP_AFTER``. Resolving deletes the row under a lock, so a request
resolved by both the task and the sweep is resolved once.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction

from . import clock, dispatch
from .models import SelfServiceRequest

log = logging.getLogger(__name__)

# Long enough that the sweep does not race a task queued a moment ago (the
# race is harmless, only wasted), short enough that a lost task costs a
# person at most a minute or two.
SWEEP_AFTER = timedelta(seconds=30)
SWEEP_BATCH = 500


def resolve_on_commit(request_id: int) -> None:
    """Queue the resolution once the recording transaction commits; a failed
    enqueue is left to the sweep rather than failing the request (the page
    answers the same either way)."""

    def enqueue() -> None:
        try:
            dispatch.send("resolve_self_service_request", request_id)
        except Exception:  # the broker is down: the sweep will find the row
            log.warning("self-service request %s not dispatched now; the sweep will resolve it",
                        request_id)

    transaction.on_commit(enqueue)


def overdue() -> list[int]:
    """Requests recorded more than ``SWEEP_AFTER`` ago and still unresolved,
    oldest first: their task was lost (or is very late)."""
    return list(SelfServiceRequest.objects.filter(received_at__lte=clock.now() - SWEEP_AFTER)
                .order_by("received_at").values_list("pk", flat=True)[:SWEEP_BATCH])
