"""Sending a notice over its medium: email through Django's email backends,
SMS through a small backend interface, monitoring through its sink.

Addresses come only from stored channels, never from the message or a request,
and are checked again here so that no header can be injected.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.utils.module_loading import import_string

from . import monitoring
from .models import Notice

DeliveryFailed = monitoring.DeliveryFailed


class DevOutboxSMSBackend:
    """Development SMS: nothing leaves the machine; the message is read on the
    development outbox page, which lists every notice."""

    def send(self, to: str, body: str, idempotency_key: str) -> None:
        return None


def sms_backend():
    return import_string(settings.SMS_BACKEND)()


def send(notice: Notice) -> None:
    """Hand one notice to its medium; raises DeliveryFailed to be retried."""
    if notice.medium == Notice.Medium.MONITORING:
        monitoring.send_event(monitoring_event(notice), notice.idempotency_key)
        return
    if notice.medium == Notice.Medium.PORTAL:
        return  # the person's portal page lists it: nothing leaves the console
    channel = notice.channel
    if channel is None or channel.revoked_at is not None:
        raise ValueError("notice has no usable channel")  # permanent: never retried
    if notice.medium == Notice.Medium.EMAIL:
        _email(notice, channel.address)
    elif notice.medium == Notice.Medium.SMS:
        sms_backend().send(channel.address, notice.body, notice.idempotency_key)
    else:
        raise ValueError(f"unknown medium {notice.medium!r}")


def _email(notice: Notice, address: str) -> None:
    try:
        validate_email(address)
    except ValidationError as exc:
        raise ValueError("stored email address is not valid") from exc
    subject = " ".join(notice.subject.split())  # no CR/LF can reach a header
    message = EmailMessage(
        subject=subject, body=notice.body, from_email=settings.DEFAULT_FROM_EMAIL, to=[address],
        headers={"Message-ID": f"<{notice.idempotency_key.replace(':', '.')[:100]}"
                               f"@{settings.EMAIL_MESSAGE_ID_DOMAIN}>"},
    )
    try:
        message.send(fail_silently=False)
    except OSError as exc:
        raise DeliveryFailed(f"mail server refused: {exc}") from exc


def monitoring_event(notice: Notice) -> dict:
    """What monitoring learns of a notice: its event and correlation ids only."""
    identity = notice.identity
    return {
        "event": notice.event,
        "summary": notice.subject,
        "correlation_id": f"case-{notice.case_id}" if notice.case_id else None,
        "identity": identity.directory_id if identity is not None else None,
        "at": notice.created_at.isoformat(),
    }
