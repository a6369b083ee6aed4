from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

BEAT_HEARTBEAT_KEY = "beat-heartbeat"


@shared_task
def record_beat_heartbeat() -> str:
    """Run by beat every minute through a worker: proves both are alive."""
    now = timezone.now().isoformat()
    cache.set(BEAT_HEARTBEAT_KEY, now, timeout=None)
    return now
