"""The "lost" passkey still signing in: while a recovery case is open, a
sign-in with a passkey the person had when the case opened (they called
because they lost it) flags the case, raises an alert, voids any live
recovery credential of the case, and blocks issuing (``may_issue``) until a
supervisor who did not work the case reviews it with a note.

Two paths see such a sign-in: the built-in directory's own passkey sign-in
(``accounts.views`` calls ``lost_passkey_signed_in``) and an external
provider's sign-in event (``signin_events`` calls ``flag_lost_device`` when
the event's credential or device matches).
"""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest

from accounts.models import Identity, PasskeyCredential, User
from audit.events import record

from .. import alerts, clock
from ..models import Alert, RecoveryCase
from .approval import _require_fresh_step_up
from .base import _decision, _lock, _void_live_secrets
from .rules import _enforce, _require_reason, may_review_lost_device

REVIEW_NOTE_MAX_LENGTH = 500


def open_case_of(identity: Identity) -> RecoveryCase | None:
    """The identity's open recovery case, if any (there is at most one)."""
    return RecoveryCase.objects.filter(identity=identity,
                                       state__in=list(RecoveryCase.OPEN_STATES)).first()


def had_when_opened(case: RecoveryCase, passkey: PasskeyCredential) -> bool:
    """Whether the person held ``passkey`` when ``case`` opened: what they
    reported lost by asking for a recovery."""
    return (passkey.user_id == case.identity.user_id and passkey.created_at <= case.opened_at
            and (passkey.revoked_at is None or passkey.revoked_at > case.opened_at))


def lost_passkey_signed_in(passkey: PasskeyCredential, *,
                           request: HttpRequest | None = None) -> RecoveryCase | None:
    """The built-in directory saw ``passkey`` sign in: flag its owner's open
    case if they held the passkey when the case opened. The flagged case, or
    None (no open case, or a passkey enrolled since)."""
    identity = Identity.objects.filter(user_id=passkey.user_id).first()
    case = open_case_of(identity) if identity is not None else None
    if case is None or not had_when_opened(case, passkey):
        return None
    return flag_lost_device(case, f"The passkey {_short(passkey.credential_id)}, held when the "
                            "case opened, signed in to the console's portal.",
                            via="console", request=request)


@_decision("lost_device_flag")
def flag_lost_device(case: RecoveryCase, detail: str, *, via: str,
                     request: HttpRequest | None = None) -> RecoveryCase:
    """Flag ``case``: a device the person reported lost signed in (``via``:
    "console", or the name of the event source that reported it). Nobody
    decides this; it is what was seen. The first use since the last review
    raises the alert; a further one before a review is audited only."""
    case = _lock(case.pk)
    now = clock.now()
    again = case.lost_device_unreviewed
    if not again:
        case.lost_device_used_at, case.lost_device_detail = now, detail[:500]
        case.lost_device_reviewed_at, case.lost_device_reviewed_by = None, None
        case.lost_device_review_note = ""
    case.updated_at = now
    case.save()
    voided = _void_live_secrets(case, now, "lost_device_used", request=request)
    record("lost_device_used", target=case, actor=None, request=request, via=via[:100],
           detail=detail[:500], again=again, voided=voided)
    if not again:
        alerts.raise_alert(case.identity, Alert.Kind.LOST_DEVICE_USED, detail, case=case,
                           request=request,
                           subject="A passkey reported lost is still signing in")
    return case


@_decision("lost_device_review", actor="supervisor")
def review_lost_device(case: RecoveryCase, supervisor: User, note: str, *,
                       step_up: dict | None,
                       request: HttpRequest | None = None) -> RecoveryCase:
    """A supervisor who stepped up, and never worked the case, reviews the
    lost device's use with a note (what they checked: who holds the device,
    why it signed in); issuing is allowed again until the next use."""
    case = _lock(case.pk)
    now = clock.now()
    _enforce(may_review_lost_device(case, supervisor))
    _require_reason(note, REVIEW_NOTE_MAX_LENGTH)
    _require_fresh_step_up(step_up, now)
    case.lost_device_reviewed_at, case.lost_device_reviewed_by = now, supervisor
    case.lost_device_review_note, case.updated_at = note.strip(), now
    case.save()
    record("lost_device_reviewed", target=case, actor=supervisor, request=request,
           note=note.strip(), used_at=_iso(case.lost_device_used_at),
           step_up_device=step_up["device"], step_up_at=step_up["at"])
    return case


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def _short(credential_id: str) -> str:
    return f"…{credential_id[-8:]}" if len(credential_id) > 8 else credential_id
