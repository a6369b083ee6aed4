"""Celery tasks of the passkey rollout: thin wrappers over its decisions."""

from celery import shared_task

from . import invitations


@shared_task
def send_enrolment_reminders() -> int:
    """On beat's schedule: remind the invited members who are due."""
    return invitations.send_reminders()
