"""The outbox: every notice owed is delivered once, retried with backoff,
and found again by the sweep if its dispatch was lost."""

import hashlib
import hmac
import json
from contextlib import nullcontext
from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from accounts.models import RecoveryChannel
from recovery_console import messaging, notices, outbox
from recovery_console.celery import app
from recovery_console.models import Notice
from recovery_console.tasks import deliver_notice, dispatch_due_notices
from tests.factories import IdentityFactory
from tests.services import wait_for, webhook_receiver, worker

pytestmark = pytest.mark.django_db


class FailingSMS:
    """An SMS provider that is down."""

    def send(self, to, body, idempotency_key):
        raise messaging.DeliveryFailed("provider answered 503")


def identity_with(kind="email", address="ana@example.org", **fields):
    identity = IdentityFactory()
    channel = RecoveryChannel.objects.create(identity=identity, kind=kind, address=address,
                                             **fields)
    return identity, channel


def owe_email(identity, channel, key="decision-1", subject="Your access was restored"):
    return notices.owe(key=key, medium=Notice.Medium.EMAIL, event="recovery_completed",
                       subject=subject, body="Your passkey was replaced.", identity=identity,
                       channel=channel)


@pytest.mark.django_db(transaction=True)
def test_a_notice_owed_by_a_committed_decision_is_delivered_by_a_worker():
    identity, channel = identity_with()
    with worker(app):
        with transaction.atomic():
            notice = owe_email(identity, channel)
        assert wait_for(lambda: Notice.objects.get(pk=notice.pk).sent_at is not None)
    assert [m.to for m in mail.outbox] == [["ana@example.org"]]
    assert mail.outbox[0].extra_headers["Message-ID"].startswith("<decision-1")


@pytest.mark.django_db(transaction=True)
def test_a_notice_whose_dispatch_was_lost_is_found_by_the_sweep():
    identity, channel = identity_with()
    # Written without any dispatch, as if the broker was down at commit time.
    notice = Notice.objects.create(idempotency_key="lost-1", medium="email", event="e",
                                   subject="s", body="b", identity=identity, channel=channel)
    with worker(app):
        dispatch_due_notices.delay()
        assert wait_for(lambda: Notice.objects.get(pk=notice.pk).sent_at is not None)
    assert len(mail.outbox) == 1


def test_delivering_the_same_notice_twice_sends_it_once():
    identity, channel = identity_with()
    notice = owe_email(identity, channel)
    assert outbox.deliver(notice.pk) == "sent"
    assert outbox.deliver(notice.pk) == "skipped"
    deliver_notice.apply(args=[notice.pk])  # a redelivered task
    assert len(mail.outbox) == 1


def test_owing_the_same_notice_twice_records_it_once():
    identity, channel = identity_with()
    first = owe_email(identity, channel)
    second = owe_email(identity, channel)
    assert first.pk == second.pk
    assert Notice.objects.count() == 1


def test_a_failing_provider_is_retried_with_growing_backoff_then_given_up(settings):
    settings.SMS_BACKEND = "tests.notices.test_delivery.FailingSMS"
    identity, channel = identity_with("phone", "+447700900123")
    notice = notices.owe(key="sms-1", medium="sms", event="e", subject="s", body="b",
                         identity=identity, channel=channel)
    delays = []
    for attempt in range(1, outbox.MAX_ATTEMPTS + 1):
        before = timezone.now()
        last = attempt == outbox.MAX_ATTEMPTS
        with nullcontext() if last else pytest.raises(messaging.DeliveryFailed):
            outbox.deliver(notice.pk)
        notice.refresh_from_db()
        assert notice.attempts == attempt and notice.sent_at is None
        assert notice.last_error == "provider answered 503"
        if attempt < outbox.MAX_ATTEMPTS:
            delays.append(notice.next_attempt_at - before)
            assert outbox.sweep_due() == []  # not due again before its backoff
            Notice.objects.filter(pk=notice.pk).update(next_attempt_at=before)
    assert delays == sorted(delays) and delays[0] >= timedelta(seconds=29)
    assert delays[-1] <= timedelta(minutes=30, seconds=1)
    assert notice.failed_at is not None
    assert outbox.sweep_due() == []


def test_a_notice_to_a_revoked_channel_is_never_sent(settings):
    identity, channel = identity_with()
    notice = owe_email(identity, channel)
    RecoveryChannel.objects.filter(pk=channel.pk).update(revoked_at=timezone.now())
    assert outbox.deliver(notice.pk) == "failed"
    notice.refresh_from_db()
    assert notice.failed_at is not None and mail.outbox == []


def test_no_header_can_be_injected_through_a_subject():
    identity, channel = identity_with()
    notice = owe_email(identity, channel, subject="Hello\r\nBcc: attacker@evil.example")
    outbox.deliver(notice.pk)
    message = mail.outbox[0].message()
    assert message["Bcc"] is None
    assert "\n" not in message["Subject"]
    assert mail.outbox[0].to == ["ana@example.org"]


def test_monitoring_events_carry_the_correlation_id_and_no_message_body(settings, tmp_path):
    settings.MONITORING_JSONL_PATH = str(tmp_path / "events.jsonl")
    identity = IdentityFactory(directory_id="emp-042")
    notice = notices.owe_to_monitoring(decision="credential-issued:7", event="credential_issued",
                                       subject="Recovery credential issued",
                                       body="code 123456 must never leave", identity=identity)
    outbox.deliver(notice.pk)
    event = json.loads((tmp_path / "events.jsonl").read_text())
    assert event["event"] == "credential_issued" and event["identity"] == "emp-042"
    assert "123456" not in json.dumps(event)


def test_the_webhook_sink_signs_every_event_with_hmac(settings):
    with webhook_receiver(settings) as received:
        notice = notices.owe_to_monitoring(decision="alert:1", event="watch_alert",
                                           subject="Second recovery", body="-")
        assert outbox.deliver(notice.pk) == "sent"
    headers, body = received[-1]
    expected = hmac.new(b"shared-secret-for-this-test", body, hashlib.sha256).hexdigest()
    assert headers["X-Recovery-Console-Signature"] == f"sha256={expected}"
    assert headers["Idempotency-Key"] == "alert:1:monitoring"


def test_an_unreachable_webhook_is_retried_not_lost(settings):
    settings.MONITORING_SINK = "webhook"
    settings.MONITORING_WEBHOOK_URL = "http://127.0.0.1:9/unreachable"
    settings.MONITORING_WEBHOOK_SECRET = "s"
    notice = notices.owe_to_monitoring(decision="alert:2", event="e", subject="s", body="-")
    with pytest.raises(messaging.DeliveryFailed):
        outbox.deliver(notice.pk)
    notice.refresh_from_db()
    assert notice.sent_at is None and notice.failed_at is None and notice.attempts == 1


def test_a_notice_owed_once_is_recorded_once_and_a_second_fails_the_decision():
    from django.db import IntegrityError

    first = notices.owe_to_monitoring(decision="credential-redeemed:1", event="redeemed",
                                      subject="s", body="b", once=True)
    assert notices.owe_to_monitoring(decision="credential-redeemed:1", event="redeemed",
                                     subject="s", body="b") == first  # the usual way: kept
    with pytest.raises(IntegrityError), transaction.atomic():
        notices.owe_to_monitoring(decision="credential-redeemed:1", event="redeemed",
                                  subject="s", body="b", once=True)
    assert Notice.objects.filter(idempotency_key="credential-redeemed:1:monitoring").count() == 1
