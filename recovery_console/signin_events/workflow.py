"""The decisions about sign-in events: a security admin registers a source
(its secret shown once) or revokes it; a verified request's events are kept,
each raising the watch-period alerts it calls for and flagging an open case
whose "lost" device it shows signing in."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest

from accounts.identifiers import canonical
from accounts.models import Identity, PasskeyCredential, User
from accounts.roles import Role
from audit.events import record

from .. import alerts, clock
from .. import workflow as recovery
from ..models import Alert, RecoveryCase
from ..workflow.base import _decision
from ..workflow.rules import _require_role
from . import signing
from .models import EventNonce, EventSource, SignInEvent
from .receiving import Refused, Verified

Kind = SignInEvent.Kind


@_decision("signin_source_create", actor="actor")
def create_source(name: str, actor: User, *,
                  request: HttpRequest | None = None) -> tuple[EventSource, str]:
    """A security admin registers a source of sign-in events. Returns it and
    its signing secret, which is shown this once and kept only sealed."""
    _require_role(actor, Role.SECURITY_ADMIN)
    secret = signing.new_secret()
    source = EventSource.objects.create(name=name, key_id=signing.new_key_id(),
                                        secret_sealed=signing.seal(secret),
                                        created_at=clock.now(), created_by=actor)
    record("signin_source_created", target=source, actor=actor, request=request,
           key_id=source.key_id)
    return source, secret


@_decision("signin_source_revoke", actor="actor")
def revoke_source(source: EventSource, actor: User, *,
                  request: HttpRequest | None = None) -> EventSource:
    """A security admin revokes a source: its next request is refused."""
    _require_role(actor, Role.SECURITY_ADMIN)
    source = EventSource.objects.select_for_update().get(pk=source.pk)
    if source.revoked_at is None:
        source.revoked_at, source.revoked_by = clock.now(), actor
        source.save(update_fields=["revoked_at", "revoked_by"])
        record("signin_source_revoked", target=source, actor=actor, request=request,
               key_id=source.key_id)
    return source


def accept(verified: Verified, *, request: HttpRequest | None = None) -> list[SignInEvent]:
    """Keep a verified request's events, once: its nonce is stored in the
    same transaction, so the same request again is refused (409) and keeps
    nothing. Each event is matched to an identity by directory id, then
    checked against the person's watch period and open case."""
    now = clock.now()
    with transaction.atomic():
        try:
            with transaction.atomic():
                EventNonce.objects.create(source=verified.source, nonce=verified.nonce,
                                          seen_at=now)
        except IntegrityError:
            raise Refused(409, "replayed", "This request was already received (its nonce "
                          "was used): sign each request with a new nonce.") from None
        EventSource.objects.filter(pk=verified.source.pk).update(last_used_at=now)
        kept = [_keep(verified.source, fields, now, request) for fields in verified.events]
    return kept


def prune_nonces() -> int:
    """Forget nonces older than twice the timestamp tolerance: a request that
    old is refused as stale before its nonce is looked at."""
    window = timedelta(seconds=2 * settings.SIGNIN_EVENTS_TOLERANCE_SECONDS)
    deleted, _ = EventNonce.objects.filter(seen_at__lt=clock.now() - window).delete()
    return deleted


def _keep(source: EventSource, fields: dict, now, request) -> SignInEvent:
    identity = Identity.objects.filter(directory_key=canonical(fields["subject"])).first()
    event = SignInEvent(source=source, identity=identity, received_at=now, **fields)
    if identity is not None:
        # Both may apply: a second recovery opened inside the first one's watch.
        flagged, watched = _lost_device_case(event, source), _watched_case(event, request)
        event.case = flagged or watched
    event.save()
    return event


def _watched_case(event: SignInEvent, request) -> RecoveryCase | None:
    """Inside the watch period after a completed recovery: an alert for each
    sign the event shows (admin access, a new device, an anonymising proxy, a
    new country), linked to the recovery."""
    case = alerts.under_watch(event.identity, event.occurred_at)
    if case is None or case.closed_at is None or event.occurred_at < case.closed_at:
        return None
    where = _where(event)
    signs = []
    if event.admin or event.kind == Kind.ADMIN_ACCESS:
        signs.append((Alert.Kind.ADMIN_ACCESS,
                      f"Admin access to {event.application or 'an application'}{where}"))
    if _new_device(event):
        signs.append((Alert.Kind.NEW_DEVICE, f"{event.get_kind_display()} from a device not "
                      f"seen before ({_device(event)}){where}"))
    if event.anonymous_proxy:
        signs.append((Alert.Kind.ANONYMOUS_PROXY,
                      f"{event.get_kind_display()} through an anonymising proxy{where}"))
    if _new_country(event):
        signs.append((Alert.Kind.NEW_COUNTRY,
                      f"{event.get_kind_display()} from {event.country}, a country not seen "
                      f"before for this person{where}"))
    for kind, detail in signs:
        alerts.raise_alert(event.identity, kind,
                           f"{detail} (reported by {event.source.name}, case {case.pk}).",
                           case=case, request=request)
    return case


def _lost_device_case(event: SignInEvent, source: EventSource) -> RecoveryCase | None:
    """An open case whose person signed in, after it opened, with the
    passkey or device they had then (they reported it lost): flagged."""
    if event.kind == Kind.DEVICE_ADDED:
        return None
    case = recovery.open_case_of(event.identity)
    if case is None or event.occurred_at < case.opened_at:
        return None
    passkey = (PasskeyCredential.objects.filter(credential_id=event.credential_id).first()
               if event.credential_id else None)
    held = passkey is not None and recovery.had_when_opened(case, passkey)
    known_device = bool(event.device_id) and SignInEvent.objects.filter(
        identity=event.identity, device_id=event.device_id,
        occurred_at__lt=case.opened_at).exists()
    if not (held or known_device):
        return None
    what = f"passkey {_tail(event.credential_id)}" if held else f"device {_tail(event.device_id)}"
    recovery.flag_lost_device(
        case, f"The {what}, held when the case opened, signed in at "
        f"{event.application or 'the identity provider'}{_where(event)} (reported by "
        f"{source.name}).", via=source.name)
    return case


def _earlier(event: SignInEvent):
    return SignInEvent.objects.filter(identity=event.identity, occurred_at__lt=event.occurred_at)


def _new_device(event: SignInEvent) -> bool:
    """A device or credential this person never used before; a passkey they
    enrolled in the console (the recovery's own) is known."""
    if not (event.device_id or event.credential_id):
        return False
    if event.credential_id and PasskeyCredential.objects.filter(
            user_id=event.identity.user_id, credential_id=event.credential_id,
            revoked_at__isnull=True).exists():
        return False
    earlier = _earlier(event)
    seen = ((event.device_id and earlier.filter(device_id=event.device_id).exists())
            or (event.credential_id and earlier.filter(
                credential_id=event.credential_id).exists()))
    return event.kind == Kind.DEVICE_ADDED or not seen


def _new_country(event: SignInEvent) -> bool:
    """A country outside this person's history (with none, nothing to compare)."""
    if not event.country:
        return False
    history = _earlier(event).exclude(country="")
    return history.exists() and not history.filter(country=event.country).exists()


def _where(event: SignInEvent) -> str:
    parts = [p for p in (event.ip, event.country) if p]
    return f" ({', '.join(parts)})" if parts else ""


def _device(event: SignInEvent) -> str:
    return f"device {_tail(event.device_id)}" if event.device_id else \
        f"passkey {_tail(event.credential_id)}"


def _tail(value: str) -> str:
    return f"…{value[-8:]}" if len(value) > 8 else value
