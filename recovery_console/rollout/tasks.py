"""The rollout's Celery tasks: thin wrappers around ``rollout.workflow``."""

from celery import shared_task

from . import workflow


@shared_task
def expire_rollout_exceptions() -> int:
    """Every few minutes: end the exceptions past their expiry, each owner told."""
    return workflow.expire_exceptions()
