"""Queueing a Celery task by name, for the modules the tasks call.

``tasks.py`` imports the outbox, the schedule and the self-service requests
to run them; those modules queue tasks once a decision commits. Importing the
task module back would close a circle, so they send the task by its name,
``recovery_console.tasks.<function>`` (``shared_task`` names a task after its
module and function). tests/test_layers.py checks every name sent here is a
registered task, and that no module below ``tasks`` imports it.
"""

from __future__ import annotations

from celery import current_app

TASK_MODULE = "recovery_console.tasks"


def send(task: str, *args, **options) -> None:
    """Queue ``recovery_console.tasks.<task>(*args)`` on the current Celery
    app, with ``options`` as for ``apply_async`` (``countdown``, ...). Raises
    what the broker raises: the callers decide what a lost dispatch costs."""
    current_app.send_task(f"{TASK_MODULE}.{task}", args=list(args), **options)
