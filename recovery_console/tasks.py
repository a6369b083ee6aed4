"""Celery tasks: thin wrappers that call the outbox and workflow services."""

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from . import channels, outbox, self_service, workflow

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


@shared_task(acks_late=True)
def resolve_self_service_request(request_id: int) -> str:
    """Open the case a self-service request asked for, or audit why not."""
    return workflow.resolve_self_service_request(request_id)


@shared_task
def resolve_overdue_self_service_requests() -> int:
    """Every minute: resolve requests whose task was lost (broker down when
    they were recorded, worker killed); resolving twice does nothing."""
    ids = self_service.overdue()
    for request_id in ids:
        workflow.resolve_self_service_request(request_id)
    return len(ids)
