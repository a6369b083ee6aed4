"""Persona as documented: the Inquiries API's answers the local server gives
in its place, and the webhook events it signs, each citing the page it
follows."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

from tests.restore.server import Reply

API_KEY = "persona_sandbox_1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901"
WEBHOOK_SECRET = "wbhsec_5b1d2e9a-7c44-4f0e-9a57-1f3e2d4c6b8a"
TEMPLATE = "itmpl_Ygs16MKTkA6obnF8C3Rb17dX"
INQUIRY = "inq_2CVZ4HyVg7qaboXz2PUHknAn"
REQUEST_ID = "5c5b1c6d-8a0e-4f76-9c27-0b8a6a1f3e21"
LINK = "https://withpersona.com/verify?code=c0de1234abcd5678ef90"
INQUIRIES_PATH = "/api/v1/inquiries"
LINK_PATH = f"{INQUIRIES_PATH}/{INQUIRY}/generate-one-time-link"

CREATE = "https://docs.withpersona.com/api-reference/inquiries/create-an-inquiry"
ONE_TIME_LINK = "https://docs.withpersona.com/api-reference/inquiries/generate-a-one-time-link"
ERRORS = "https://docs.withpersona.com/error-handling"
RATE_LIMITS = "https://docs.withpersona.com/rate-limiting"
WEBHOOKS = "https://docs.withpersona.com/webhooks"
SIGNATURES = "https://docs.withpersona.com/docs/webhooks-best-practices"


def _headers() -> dict[str, str]:
    # https://docs.withpersona.com/request-ids: every answer names its request.
    return {"Request-Id": REQUEST_ID}


def _inquiry(status: str, reference: str, inquiry: str = INQUIRY,
             template: str = TEMPLATE, created: str = "") -> dict:
    created = created or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {"type": "inquiry", "id": inquiry,
            "attributes": {"status": status, "reference-id": reference,
                           "created-at": created,
                           "completed-at": created if status != "created" else None,
                           "expired-at": None},
            "relationships": {"account": {"data": {"type": "account",
                                                   "id": "act_ze6yc5cAMn9pRRCKEPPsfk7s"}},
                              "inquiry-template": {"data": {"type": "inquiry-template",
                                                            "id": template}},
                              "reports": {"data": []}, "verifications": {"data": []}}}


def inquiry_created(reference: str) -> Reply:
    """201 with the new inquiry (JSON:API), status "created"."""
    return Reply(201, {"data": _inquiry("created", reference)}, headers=_headers(), doc=CREATE)


def one_time_link(reference: str) -> Reply:
    """The inquiry with the link in meta.one-time-link (and its short form)."""
    return Reply(200, {"data": _inquiry("created", reference),
                       "meta": {"one-time-link": LINK,
                                "one-time-link-short": "https://perso.na/v/c0de1234"}},
                 headers=_headers(), doc=ONE_TIME_LINK)


def persona_error(status: int, title: str, details: str = "", *, headers=None,
                  doc: str = ERRORS) -> Reply:
    """Persona's error body: {"errors": [{"title", "details"}]}."""
    error = {"title": title, **({"details": details} if details else {})}
    return Reply(status, {"errors": [error]}, headers={**_headers(), **(headers or {})},
                 doc=doc)


def unauthorized() -> Reply:
    return persona_error(401, "Must be authenticated to access this endpoint")


def unprocessable() -> Reply:
    return persona_error(422, "Bad request", "inquiry-template-id is invalid")


def throttled() -> Reply:
    return persona_error(429, "Too many requests", headers={"Retry-After": "12"},
                         doc=RATE_LIMITS)


def server_error() -> Reply:
    return persona_error(500, "Internal server error")


def event(name: str, status: str, reference: str, *, inquiry: str = INQUIRY,
          template: str = TEMPLATE, event_id: str = "evt_XGuYWp7WuDzNxie5z16s7sGJ",
          created: str = "") -> bytes:
    """A webhook event as Persona posts it (JSON:API; the inquiry in payload.data)."""
    created = created or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return json.dumps({"data": {"type": "event", "id": event_id, "attributes": {
        "name": name, "created-at": created,
        "payload": {"data": _inquiry(status, reference, inquiry, template, created)}}}}
    ).encode()


def signature(body: bytes, *, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    """Persona-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">."""
    at = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"
