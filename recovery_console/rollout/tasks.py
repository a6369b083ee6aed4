"""Celery tasks of the passkey rollout: thin wrappers over its services."""

from celery import shared_task

from .. import clock
from . import reports


@shared_task
def take_readiness_snapshots() -> int:
    """Daily: today's readiness counts of the organisation and of every
    cohort, the points of the trend charts (again the same day: updated)."""
    return reports.take_snapshots(clock.now())
