"""Sign-in events' Celery tasks: thin wrappers around their decisions."""

from celery import shared_task

from . import workflow


@shared_task
def prune_nonces() -> int:
    """On beat's schedule: forget nonces too old to be replayed (the
    timestamp check refuses such a request first)."""
    return workflow.prune_nonces()
