"""The rollout's Celery tasks: thin wrappers around its decisions."""

from celery import shared_task

from . import invitations, workflow


@shared_task
def expire_rollout_exceptions() -> int:
    """Every few minutes: end the exceptions past their expiry, each owner told."""
    return workflow.expire_exceptions()


@shared_task
def send_enrolment_reminders() -> int:
    """On beat's schedule: remind the invited members who are due."""
    return invitations.send_reminders()
