"""The database is the source of truth: a decision committed while the
broker is down stands, and every notice it owes goes out exactly once when
the broker is back. Runs against a Redis server of its own, which it stops
and starts (never the shared one)."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from celery import Celery
from django.core import mail
from django.db import transaction
from django.test import Client
from django.urls import reverse

from recovery_console.celery import app as console_app
from recovery_console.models import Notice, RecoveryCase
from recovery_console.tasks import dispatch_due_notices
from tests.factories import recovery_case, staff
from tests.recovery.support import verify
from tests.sessions import sign_in_client

from ..conftest import IN_CI
from ..services import ThrowawayRedis, wait_for, worker
from .provider import delivered_messages

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def broker():
    if shutil.which("redis-server") is None:
        if IN_CI:
            pytest.fail("redis-server is missing")
        pytest.skip("redis-server is not installed")
    redis = ThrowawayRedis()
    redis.start()
    app = Celery("recovery_console_outage", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.broker_url = redis.url
    app.conf.broker_transport = None  # the URL's (the laptop setup names its file broker)
    app.conf.broker_transport_options = {"visibility_timeout": 3600}
    app.set_current()
    try:
        yield redis, app
    finally:
        console_app.set_current()
        redis.stop()


def test_an_approval_committed_while_the_broker_is_down_stands_and_its_notices_go_out_once(
        broker, recovery_reference_data):
    redis, app = broker
    agent = staff("agent")
    case = verify(recovery_case("high", agent=agent), agent)
    from recovery_console import workflow

    workflow.request_approval(case, agent)
    supervisor = sign_in_client(Client(), staff("supervisor"))

    redis.stop()
    started = time.monotonic()
    response = supervisor.post(reverse("recovery:decide", args=[case.pk]),
                               {"decision": "approve", "reason": "Evidence complete."})
    assert response.status_code == 302  # the page answers normally ...
    assert time.monotonic() - started < 10  # ... and without hanging on the broker
    case.refresh_from_db()
    assert case.state == RecoveryCase.State.APPROVED  # the decision stands
    owed = Notice.objects.filter(case=case)
    assert owed.filter(event="recovery_approved").exists()
    assert not owed.filter(sent_at__isnull=False).exists()

    redis.start()
    with worker(app):
        dispatch_due_notices.delay()
        assert wait_for(lambda: not owed.filter(sent_at__isnull=True).exists())
        dispatch_due_notices.delay()  # a second sweep finds nothing more to send
        time.sleep(0.5)
    assert set(owed.values_list("attempts", flat=True)) == {1}
    emails = owed.filter(medium="email").count()
    assert len(mail.outbox) == emails > 0


ROOT = Path(__file__).resolve().parents[2]


def worker_process(redis, provider_log, hang):
    from django.db import connection

    db = connection.settings_dict
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "recovery_console.settings",
           "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "REDIS_URL": redis.url, "CELERY_VISIBILITY_TIMEOUT_SECONDS": "2",
           "SMS_BACKEND": "tests.notices.provider.RecordingSMSProvider",
           "SMS_PROVIDER_LOG": str(provider_log), "SMS_PROVIDER_HANG": "1" if hang else "0",
           "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "celery", "-A", "recovery_console", "worker", "--pool=solo",
         "--loglevel=WARNING", "--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_a_worker_killed_mid_delivery_still_sends_exactly_one_message(
        broker, on_postgres, recovery_reference_data, tmp_path):
    from recovery_console import notices
    from tests.factories import RecoveryChannelFactory

    redis, app = broker
    log = tmp_path / "provider.log"
    channel = RecoveryChannelFactory(kind="phone", address="+447700900555")
    first = worker_process(redis, log, hang=True)
    try:
        with transaction.atomic():
            notice = notices.owe(key="killed-1", medium="sms", event="e", subject="s",
                                 body="b", identity=channel.identity, channel=channel)
        # The provider has the message; the worker dies before recording it as sent.
        assert wait_for(lambda: log.exists() and "killed-1" in log.read_text())
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    notice.refresh_from_db()
    assert notice.sent_at is None  # the dead worker's transaction never committed

    second = worker_process(redis, log, hang=False)
    try:
        # The broker hands the unacknowledged task to the new worker, and the
        # sweep would find the notice too: either way it is sent once.
        dispatch_due_notices.delay()
        assert wait_for(lambda: Notice.objects.get(pk=notice.pk).sent_at is not None, 60)
    finally:
        second.terminate()
        second.wait(timeout=20)
    notice.refresh_from_db()
    assert notice.attempts == 1  # one recorded delivery; the killed one rolled back
    submissions = log.read_text().splitlines()
    # At most the killed attempt and the real one, both under the notice's own
    # idempotency key, so the provider delivers a single message.
    assert submissions == ["submitted killed-1"] * len(submissions)
    assert 1 <= len(submissions) <= 2
    assert delivered_messages(log) == ["killed-1"]
