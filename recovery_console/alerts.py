"""Alerts: unusual follow-on activity inside a recovery's watch period,
shown to security admins and sent to security monitoring at once."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.http import HttpRequest

from accounts.models import Identity, User
from accounts.roles import Role, roles_of
from audit.events import record

from . import clock, notices
from .models import Alert, RecoveryCase
from .refusal import WorkflowError


def under_watch(identity: Identity, now: datetime | None = None) -> RecoveryCase | None:
    """The completed recovery whose watch period covers ``now``, if any."""
    return (RecoveryCase.objects.filter(identity=identity, state=RecoveryCase.State.COMPLETED,
                                        watch_until__gt=now or clock.now())
            .order_by("-closed_at").first())


def raise_alert(identity: Identity, kind: str, detail: str, *, case: RecoveryCase | None = None,
                request: HttpRequest | None = None) -> Alert:
    """Record an alert, audit it, and owe security monitoring a notice."""
    alert = Alert.objects.create(identity=identity, case=case, kind=kind, detail=detail[:500],
                                 created_at=clock.now())
    record("alert_raised", target=alert, actor=None, request=request, kind=kind,
           case=case.pk if case else None)
    notices.owe_to_monitoring(
        decision=f"alert:{alert.pk}", event=f"alert_{kind}", identity=identity, case=case,
        subject=f"Recovery watch alert: {alert.get_kind_display()}", body=detail,
    )
    return alert


def watch(identity: Identity, kind: str, detail: str, *,
          request: HttpRequest | None = None) -> Alert | None:
    """Raise an alert if ``identity`` is inside a recovery's watch period."""
    watched = under_watch(identity)
    if watched is None:
        return None
    return raise_alert(identity, kind, detail, case=watched, request=request)


def acknowledge(alert: Alert, admin: User, *, request: HttpRequest | None = None) -> Alert:
    """A security admin acknowledges an alert (once)."""
    if Role.SECURITY_ADMIN not in roles_of(admin):
        raise WorkflowError("Only security admins acknowledge alerts.", reason="not_security_admin",
                            status=WorkflowError.FORBIDDEN)
    with transaction.atomic():
        updated = Alert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(
            acknowledged_by=admin, acknowledged_at=clock.now())
        if not updated:
            raise WorkflowError("This alert was already acknowledged.", reason="acknowledged")
        record("alert_acknowledged", target=alert, actor=admin, request=request)
    alert.refresh_from_db()
    return alert
