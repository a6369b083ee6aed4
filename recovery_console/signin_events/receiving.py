"""What the endpoint checks before anything is kept, in order: the body's
size (before reading it), its content type, the signature header, the
source, the timestamp, the HMAC, then the JSON and its schema. A request
refused here leaves nothing behind but a log line; the nonce is checked
(and kept) by ``workflow.accept`` in the transaction that stores the events.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.http import HttpRequest

from .. import clock
from . import signing
from .models import EventSource, SignInEvent

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/json"
MAX_EVENTS = 100
TEXT_LIMITS = {"subject": 255, "device_id": 200, "credential_id": 1400, "application": 200}
FLAGS = ("anonymous_proxy", "admin")
KNOWN = {"type", "id", "occurred_at", "ip", "country", *TEXT_LIMITS, *FLAGS}


class Refused(Exception):
    """A request the endpoint answers with ``status`` and keeps nothing of."""

    def __init__(self, status: int, why: str, message: str):
        super().__init__(message)
        self.status, self.why, self.message = status, why, message


UNSIGNED = (401, "A valid signature from a registered, unrevoked source is required.")


@dataclass(frozen=True)
class Verified:
    source: EventSource
    nonce: str
    events: list[dict]  # SignInEvent fields, checked


def verify(request: HttpRequest) -> Verified:
    """The source, nonce and events of a well-signed request, or Refused."""
    limit = settings.SIGNIN_EVENTS_MAX_BODY_BYTES
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = limit + 1
    if length > limit:
        raise Refused(413, "too_large", f"The body is above {limit} bytes: send fewer events.")
    if request.content_type != CONTENT_TYPE:
        raise Refused(415, "content_type", f"Send {CONTENT_TYPE}.")
    body = request.read(limit + 1)
    if len(body) > limit:
        raise Refused(413, "too_large", f"The body is above {limit} bytes: send fewer events.")
    source, signature = _signed_by(request.headers.get(signing.HEADER, ""), body)
    try:
        events = parse(json.loads(body))
    except (ValueError, RecursionError) as problem:
        raise Refused(400, "bad_events", str(problem) or "The body is not JSON.") from None
    return Verified(source, signature.nonce, events)


def _signed_by(header: str, body: bytes) -> tuple[EventSource, signing.Signature]:
    signature = signing.parse(header)
    if signature is None:
        raise Refused(401, "bad_signature", UNSIGNED[1])
    source = EventSource.objects.filter(key_id=signature.key_id, revoked_at__isnull=True).first()
    secret = signing.unseal(source.secret_sealed) if source is not None else None
    # An unknown or revoked source answers exactly as a wrong signature does.
    if secret is None or not signing.verifies(secret, signature, body):
        raise Refused(401, "bad_signature", UNSIGNED[1])
    skew = abs(clock.now().timestamp() - signature.timestamp)
    if skew > settings.SIGNIN_EVENTS_TOLERANCE_SECONDS:
        raise Refused(401, "stale", "The timestamp is too far from now: sign the request when "
                      "sending it, with a synchronised clock.")
    return source, signature


def parse(document) -> list[dict]:
    """The events of a body ({"events": [...]}), each as SignInEvent fields;
    ValueError names the first problem."""
    if not isinstance(document, dict) or not isinstance(document.get("events"), list):
        raise ValueError('The body must be an object with a list "events".')
    events = document["events"]
    if not 1 <= len(events) <= MAX_EVENTS:
        raise ValueError(f"Send between 1 and {MAX_EVENTS} events at once.")
    return [_event(item, number) for number, item in enumerate(events, 1)]


def _event(item, number: int) -> dict:
    where = f"Event {number}"
    if not isinstance(item, dict):
        raise ValueError(f"{where} is not an object.")
    unknown = sorted(set(item) - KNOWN)
    if unknown:
        raise ValueError(f"{where} has unknown fields: {', '.join(unknown)}.")
    if item.get("type") not in SignInEvent.Kind.values:
        raise ValueError(f"{where}: type must be one of {', '.join(SignInEvent.Kind.values)}.")
    fields = {"kind": item["type"], "occurred_at": _instant(item.get("occurred_at"), where)}
    for name, limit in TEXT_LIMITS.items():
        value = item.get(name, "")
        if not isinstance(value, str) or len(value) > limit or not value.isprintable():
            raise ValueError(f"{where}: {name} must be one line of at most {limit} characters.")
        fields[name] = value
    if not fields["subject"]:
        raise ValueError(f"{where}: subject (the person's directory id) is required.")
    for name in FLAGS:
        if not isinstance(item.get(name, False), bool):
            raise ValueError(f"{where}: {name} must be true or false.")
        fields[name] = item.get(name, False)
    fields["ip"] = _address(item.get("ip"), where)
    country = item.get("country", "")
    if not isinstance(country, str) or (country and not (len(country) == 2
                                                         and country.isascii()
                                                         and country.isalpha())):
        raise ValueError(f"{where}: country must be an ISO 3166-1 alpha-2 code.")
    fields["country"] = country.upper()
    return fields


def _instant(value, where: str) -> datetime:
    try:
        at = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        at = None
    if at is None or at.tzinfo is None:
        raise ValueError(f"{where}: occurred_at must be an ISO 8601 instant with its offset.")
    if at > clock.now() + timedelta(seconds=settings.SIGNIN_EVENTS_TOLERANCE_SECONDS):
        raise ValueError(f"{where}: occurred_at is in the future.")
    return at


def _address(value, where: str) -> str | None:
    if value in (None, ""):
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"{where}: ip is not an IP address.") from None
