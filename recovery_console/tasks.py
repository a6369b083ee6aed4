"""Celery tasks: thin wrappers that call the outbox and workflow services."""

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from accounts.models import User

from . import channels, outbox, self_service, workflow
from .directory.models import DirectorySource
from .restore import workflow as restore_workflow

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


@shared_task(acks_late=True)
def deliver_notices(notice_ids: list[int]) -> dict[str, int]:
    """Send a chunk of notices owed by one decision (a wave's invitations)."""
    return outbox.deliver_each(notice_ids)


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


@shared_task(acks_late=True)
def sync_directory_source(source_id: int, full: bool = False, actor_id: int | None = None) -> str:
    """Read one LDAP source and apply it (incremental unless ``full``); a
    security admin's "Sync now" names them as ``actor_id``. Returns the
    run's status ("skipped" while a run of the source waits for a security
    admin, or the source is disabled)."""
    source = DirectorySource.objects.get(pk=source_id)
    actor = User.objects.get(pk=actor_id) if actor_id is not None else None
    try:
        run = workflow.sync_ldap_source(source, full=full, actor=actor)
    except workflow.WorkflowError:
        return "skipped"
    return run.status if run is not None else "skipped"


@shared_task
def sync_ldap_sources(full: bool = False) -> int:
    """On beat's schedule (incremental every few minutes, full daily): one
    task per enabled LDAP source, so a slow directory holds up no other."""
    ids = list(DirectorySource.objects.filter(kind=DirectorySource.Kind.LDAP, enabled=True)
               .values_list("pk", flat=True))
    for source_id in ids:
        sync_directory_source.delay(source_id, full)
    return len(ids)


@shared_task(bind=True, acks_late=True)
def run_restore(self, attempt_id: int) -> str:
    """Hand an approved case to its external restore target (Entra ID, Okta,
    Keycloak); the workflow decides when to stop trying, and how long to
    wait (exponential backoff, or the provider's Retry-After)."""
    outcome = restore_workflow.run_attempt(attempt_id)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in, max_retries=None)
    return outcome.state


@shared_task
def requeue_stalled_restores() -> int:
    """Every minute: queue again the restore hand-offs whose task was lost."""
    return len(restore_workflow.requeue_stalled())
