"""Celery tasks of the passkey rollout: thin wrappers over its decisions."""

from celery import shared_task

from . import enforcement


@shared_task
def pause_overloaded_waves() -> int:
    """Hourly: pause each active wave whose members' recovery cases of the
    last 24 hours pass its plan's daily limit (and alert)."""
    return len(enforcement.pause_overloaded_waves())
