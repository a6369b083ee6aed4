"""Celery tasks: thin wrappers that call the outbox and workflow services."""

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from . import channels, outbox, workflow

BEAT_HEARTBEAT_KEY = "beat-heartbeat"


@shared_task
def record_beat_heartbeat() -> str:
    """Run by beat every minute through a worker: proves both are alive."""
    now = timezone.now().isoformat()
    cache.set(BEAT_HEARTBEAT_KEY, now, timeout=None)
    return now


@shared_task(bind=True, max_retries=outbox.MAX_ATTEMPTS, acks_late=True)
def deliver_notice(self, notice_id: int) -> str:
    """Send one notice; on a passing failure, retry with exponential backoff."""
    try:
        return outbox.deliver(notice_id)
    except outbox.messaging.DeliveryFailed as exc:
        countdown = outbox.backoff(self.request.retries + 1).total_seconds()
        raise self.retry(exc=exc, countdown=countdown) from exc


@shared_task
def dispatch_due_notices() -> int:
    """Every minute: re-dispatch notices that are due and still unsent, so a
    dispatch lost with the broker or a killed worker still goes out."""
    ids = outbox.sweep_due()
    for notice_id in ids:
        deliver_notice.delay(notice_id)
    return len(ids)


@shared_task
def expire_overdue_recovery_cases() -> int:
    """Every minute: expire in bulk whatever is past its deadline."""
    return workflow.expire_due(workers=settings.SWEEP_WORKERS)


@shared_task
def expire_recovery_case(case_id: int) -> int:
    """At a credential's or recovery session's deadline: expire that case if
    nothing live is left in it."""
    return workflow.expire_due(case_ids=[case_id])


@shared_task
def mark_stale_channels() -> int:
    """Daily: flag recovery channels unconfirmed past the policy's age."""
    return channels.mark_stale()
