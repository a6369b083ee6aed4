"""Alerts: unusual follow-on activity inside a recovery's watch period (and
a passkey rollout wave pausing itself on help-desk load), shown to security
admins and sent to security monitoring at once."""

from __future__ import annotations

from collections.abc import Sequence
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


def raise_alert(identity: Identity | None, kind: str, detail: str, *,
                case: RecoveryCase | None = None, request: HttpRequest | None = None,
                subject: str = "", staff: User | None = None) -> Alert:
    """Record an alert, audit it, and owe security monitoring a notice
    (``subject``: its subject line, by default the watch alert's; ``staff``:
    the staff member it is about, if any)."""
    alert = Alert.objects.create(identity=identity, case=case, kind=kind, detail=detail[:500],
                                 created_at=clock.now(), staff=staff)
    record("alert_raised", target=alert, actor=None, request=request, kind=kind,
           case=case.pk if case else None)
    notices.owe_to_monitoring(
        decision=f"alert:{alert.pk}", event=f"alert_{kind}", identity=identity, case=case,
        subject=subject or f"Recovery watch alert: {alert.get_kind_display()}", body=detail,
    )
    return alert


def watch(identity: Identity, kind: str, detail: str, *,
          request: HttpRequest | None = None) -> Alert | None:
    """Raise an alert if ``identity`` is inside a recovery's watch period."""
    watched = under_watch(identity)
    if watched is None:
        return None
    return raise_alert(identity, kind, detail, case=watched, request=request)


# One request acknowledges at most a page of alerts or so: the audit writes
# one entry per alert, inside the request.
ACKNOWLEDGE_AT_MOST = 100
NOTE_MAX_LENGTH = 500


def acknowledge_many(alert_ids: Sequence[int], admin: User, note: str = "", *,
                     request: HttpRequest | None = None) -> list[Alert]:
    """A security admin acknowledges the chosen alerts at once, with one note
    kept on each alert and in each one's audit entry. All or nothing: when
    any was already acknowledged (another admin got there first) nothing
    changes, and the refusal names those, so the admin can look again."""
    try:
        with transaction.atomic():
            return _acknowledge(list(dict.fromkeys(alert_ids)), admin, note.strip(), request)
    except WorkflowError as refusal:
        record("alert_acknowledge_refused", target=Alert, actor=admin, request=request,
               reason=refusal.reason, message=refusal.message, **refusal.data)
        raise


def _acknowledge(ids: list[int], admin: User, note: str,
                 request: HttpRequest | None) -> list[Alert]:
    if Role.SECURITY_ADMIN not in roles_of(admin):
        raise WorkflowError("Only security admins acknowledge alerts.", reason="not_security_admin",
                            status=WorkflowError.FORBIDDEN)
    if not ids:
        raise WorkflowError("Choose at least one alert to acknowledge.", reason="none_chosen",
                            status=WorkflowError.BAD_REQUEST)
    if len(ids) > ACKNOWLEDGE_AT_MOST:
        raise WorkflowError(f"Choose at most {ACKNOWLEDGE_AT_MOST} alerts at once.",
                            reason="too_many", status=WorkflowError.BAD_REQUEST)
    if len(note) > NOTE_MAX_LENGTH:
        raise WorkflowError(f"Keep the note under {NOTE_MAX_LENGTH} characters.",
                            reason="note_too_long", status=WorkflowError.BAD_REQUEST)
    chosen = list(Alert.objects.select_for_update(of=("self",))
                  .select_related("identity", "acknowledged_by").filter(pk__in=ids).order_by("pk"))
    if len(chosen) != len(ids):
        raise WorkflowError("Some of the chosen alerts do not exist.", reason="unknown_alert",
                            status=WorkflowError.NOT_FOUND)
    done = [alert for alert in chosen if alert.acknowledged_at is not None]
    if done:
        listed = "; ".join(f"#{a.pk} ({_about(a)}) by {_name(a.acknowledged_by)}" for a in done)
        raise WorkflowError(
            f"Nothing was acknowledged: already acknowledged {listed}. "
            f"Submit again without {'it' if len(done) == 1 else 'them'}.",
            reason="acknowledged", already=[a.pk for a in done])
    now = clock.now()
    # Conditional, as well as locked: where rows cannot be locked (SQLite),
    # two admins acknowledging at once still cannot both succeed.
    updated = Alert.objects.filter(pk__in=ids, acknowledged_at__isnull=True).update(
        acknowledged_by=admin, acknowledged_at=now, acknowledgement_note=note)
    if updated != len(ids):
        raise WorkflowError("Another security admin acknowledged some of these alerts just "
                            "now; nothing was acknowledged. Look again.", reason="acknowledged")
    for alert in chosen:
        alert.acknowledged_by, alert.acknowledged_at, alert.acknowledgement_note = admin, now, note
        record("alert_acknowledged", target=alert, actor=admin, request=request,
               kind=alert.kind, note=note, bulk=len(chosen) > 1)
    return chosen


def _about(alert: Alert) -> str:
    return alert.identity.display_name if alert.identity_id else alert.get_kind_display()


def _name(user: User | None) -> str:
    return (user.get_full_name() or user.username) if user else "someone"


def acknowledge(alert: Alert, admin: User, *, note: str = "",
                request: HttpRequest | None = None) -> Alert:
    """A security admin acknowledges one alert (once)."""
    return acknowledge_many([alert.pk], admin, note, request=request)[0]
