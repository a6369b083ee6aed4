"""The rollout's Celery tasks: thin wrappers around its decisions."""

from celery import shared_task

from . import enforcement, invitations, workflow


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
