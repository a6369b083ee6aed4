"""Tasks go through the configured broker (Redis in CI) to a real worker."""


import pytest
from django.core.cache import cache

from recovery_console.celery import app
from recovery_console.tasks import BEAT_HEARTBEAT_KEY, record_beat_heartbeat
from tests.services import wait_for, worker


def test_the_running_console_never_executes_tasks_eagerly():
    assert app.conf.task_always_eager is False


@pytest.mark.django_db(transaction=True)
def test_a_task_sent_through_the_broker_runs_in_a_worker():
    with worker(app):
        record_beat_heartbeat.delay()
        stamp = wait_for(lambda: cache.get(BEAT_HEARTBEAT_KEY))
    assert stamp is not None, "the worker never ran the task"
