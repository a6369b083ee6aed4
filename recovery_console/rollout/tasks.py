"""The rollout's Celery tasks: thin wrappers around its decisions."""

from celery import shared_task

from .. import clock
from . import enforcement, invitations, reports, workflow


@shared_task
def expire_rollout_exceptions() -> int:
    """Every few minutes: end the exceptions past their expiry, each owner told."""
    return workflow.expire_exceptions()


@shared_task
def send_enrolment_reminders() -> int:
    """On beat's schedule: remind the invited members who are due."""
    return invitations.send_reminders()


@shared_task
def pause_overloaded_waves() -> int:
    """Hourly: pause each active wave whose members' recovery cases of the
    last 24 hours pass its plan's daily limit (and alert)."""
    return len(enforcement.pause_overloaded_waves())


@shared_task
def take_readiness_snapshots() -> int:
    """Daily: today's readiness counts of the organisation and of every
    cohort, the points of the trend charts (again the same day: updated)."""
    return reports.take_snapshots(clock.now())
