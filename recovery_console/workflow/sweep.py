"""The bulk expiry sweep: infrastructure beside the decisions. Lists the due
cases once and expires them in batches, on threads with their own database
connections, writing one audit entry per case itself (bulk updates bypass
django-auditlog). One case at a time is ``closing.expire``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from queue import Empty, SimpleQueue

from django.db import connections, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet

from audit.events import record_many

from .. import clock
from ..models import Attestation, ChannelCode, RecoveryCase, RecoveryCredential, RecoverySession

State = RecoveryCase.State


SWEEP_BATCH = 2000


def expire_due(*, case_ids: list[int] | None = None, now: datetime | None = None,
               workers: int = 1) -> int:
    """Expire, in bulk, every open case past its deadline and every case whose
    recovery credential ran out unredeemed or whose recovery session ended
    without a new passkey; their live codes, links, credentials and sessions
    die with them. Bulk updates bypass django-auditlog's signals, so the sweep
    writes one audit entry per case itself.

    Run by beat every minute, and by the task scheduled at each credential's
    and recovery session's deadline (``case_ids``). Use is checked against the
    deadlines anyway: a late or lost sweep never lets anything work longer.

    The due cases are listed once, by id, then expired SWEEP_BATCH at a time:
    each batch locks its cases (SKIP LOCKED: one a person is acting on right
    now waits for the next sweep) and checks again that they are still due.
    Asking the database for "the next due batch" instead would rescan every
    case already expired in this sweep: their old index entries stay until
    the table is vacuumed. ``workers`` threads, each with its own database
    connection, take batches from the list: a mass expiry keeps the database
    and the hashing of the audit chain busy on more than one core."""
    now = now or clock.now()
    live_credential = RecoveryCredential.objects.live(now).filter(case=OuterRef("pk"))
    live_session = RecoverySession.objects.live(now).filter(case=OuterRef("pk"))
    due = RecoveryCase.objects.filter(
        Q(state__in=RecoveryCase.OPEN_STATES, deadline__lte=now)
        | (Q(state=State.CREDENTIAL_ISSUED) & ~Exists(live_credential) & ~Exists(live_session))
    )
    if case_ids is not None:
        due = due.filter(pk__in=case_ids)
    ids = list(due.order_by("pk").values_list("pk", flat=True))
    batches = SimpleQueue()
    for start in range(0, len(ids), SWEEP_BATCH):
        batches.put(ids[start:start + SWEEP_BATCH])
    connection = connections[due.db]
    # Threads only outside a transaction (theirs could not see its rows), and
    # not on SQLite (one writer at a time).
    workers = min(workers, batches.qsize())  # no thread without a batch
    if workers > 1 and not connection.in_atomic_block and connection.vendor != "sqlite":
        with ThreadPoolExecutor(workers, thread_name_prefix="expiry-sweep") as pool:
            return sum(pool.map(_sweep_in_thread, [due] * workers, [batches] * workers,
                                [now] * workers))
    return _sweep(due, batches, now)


def _sweep_in_thread(due: QuerySet[RecoveryCase], batches: SimpleQueue, now: datetime) -> int:
    try:
        return _sweep(due, batches, now)
    finally:
        connections.close_all()  # this thread's own connection


def _sweep(due: QuerySet[RecoveryCase], batches: SimpleQueue, now: datetime) -> int:
    total = 0
    while True:
        try:
            ids = batches.get_nowait()
        except Empty:
            return total
        with transaction.atomic():
            batch = list(due.filter(pk__any_of=ids).order_by().select_for_update(skip_locked=True)
                         .values_list("pk", "deadline"))
            if batch:
                _expire_batch(batch, now)
        total += len(batch)


def _expire_batch(batch: list[tuple[int, datetime]], now: datetime) -> None:
    ids = [pk for pk, _ in batch]
    RecoveryCase.objects.filter(pk__any_of=ids).update(
        state=State.EXPIRED, closed_at=now, updated_at=now,
        closing_reason="Deadline passed, or the recovery credential ran out unused.")
    for secrets in (ChannelCode, Attestation, RecoveryCredential):
        secrets.objects.filter(case_id__any_of=ids).void(now)
    RecoverySession.objects.live(now).filter(case_id__any_of=ids).void(now)
    record_many("case_expired", RecoveryCase, [
        (pk, {"by": "sweep", "reason": "deadline" if deadline <= now else "credential_ran_out",
              "deadline": deadline.isoformat()})
        for pk, deadline in batch
    ])
