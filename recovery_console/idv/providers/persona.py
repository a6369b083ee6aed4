"""Persona (withpersona.com), Okta's identity-verification partner: an
inquiry (document + selfie/liveness, as the inquiry template configures it)
created through the Inquiries API with the person's reference id, a one-time
link to it sent to the person, and the inquiry's decision reported by a
webhook signed with the ``Persona-Signature`` header.

Documentation followed:
- creating an inquiry: https://docs.withpersona.com/api-reference/inquiries/create-an-inquiry
  (``POST /api/v1/inquiries``, ``Authorization: Bearer <API key>``, JSON:API
  body ``data.attributes.inquiry-template-id`` and ``reference-id``)
- reference ids: https://docs.withpersona.com/reference-ids
- one-time links: https://docs.withpersona.com/inquiry-one-time-links and
  https://docs.withpersona.com/api-reference/inquiries/generate-a-one-time-link
  (``POST /api/v1/inquiries/{inquiry-id}/generate-one-time-link``, the link in
  ``meta.one-time-link``; single use, unlike a session-token link)
- versioning and idempotence: https://docs.withpersona.com/versioning
  (``Persona-Version``), https://docs.withpersona.com/idempotence
  (``Idempotency-Key``)
- errors: https://docs.withpersona.com/error-handling (``{"errors": [{"title",
  "details"}]}``), rate limits: https://docs.withpersona.com/rate-limiting
- webhooks: https://docs.withpersona.com/webhooks (event ``data.attributes.name``,
  ``payload.data`` the inquiry), events: https://docs.withpersona.com/events,
  signatures: https://docs.withpersona.com/docs/webhooks-best-practices
  (``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``; during a secret
  rotation two space-separated sets; duplicates and out-of-order delivery happen)
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote

from ...restore.providers import Response, parse_time
from . import FAILED, PASSED, UNDECIDED, CallbackRefused, Result, Started, VerificationProvider

API_URL = "https://api.withpersona.com"
API_VERSION = "2023-01-05"
SIGNATURE_HEADER = "Persona-Signature"
# The inquiry events that decide (https://docs.withpersona.com/events): an
# approved inquiry passes, a declined or failed one fails; any other event
# (created, started, completed, marked-for-review, expired ...) decides nothing.
OUTCOMES = {("inquiry.approved", "approved"): PASSED,
            ("inquiry.declined", "declined"): FAILED,
            ("inquiry.failed", "failed"): FAILED}


class PersonaProvider(VerificationProvider):
    provider = "persona"
    label = "Persona"

    def __init__(self, *, api_key: str, webhook_secret: str, template_id: str,
                 api_url: str = API_URL, api_version: str = API_VERSION,
                 timeout: float = 10.0):
        super().__init__(timeout=timeout)
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.template_id = template_id
        self.api_url = api_url.rstrip("/")
        self.api_version = api_version

    def _call(self, path: str, *, what: str, json_body=None,
              headers: dict[str, str] | None = None) -> Response:
        return self._send("POST", self.api_url + path, what=what, json_body=json_body,
                          headers={"Authorization": f"Bearer {self.api_key}",
                                   "Persona-Version": self.api_version,
                                   "Key-Inflection": "kebab", **(headers or {})})

    def start(self, *, subject: str, idempotency_key: str) -> Started:
        created = self._call(
            "/api/v1/inquiries", what="creating an inquiry",
            headers={"Idempotency-Key": idempotency_key},
            json_body={"data": {"attributes": {"inquiry-template-id": self.template_id,
                                               "reference-id": subject}}})
        body = created.json()
        data = body.get("data") if isinstance(body, dict) else None
        inquiry = data.get("id") if isinstance(data, dict) else None
        if not isinstance(inquiry, str) or not inquiry.startswith("inq_"):
            raise self._unreadable(created, "creating an inquiry", _request_id(created))
        linked = self._call(f"/api/v1/inquiries/{quote(inquiry, safe='')}/generate-one-time-link",
                            what="generating the inquiry's one-time link")
        answer = linked.json()
        meta = answer.get("meta") if isinstance(answer, dict) else None
        link = meta.get("one-time-link") if isinstance(meta, dict) else None
        if not isinstance(link, str) or not link.startswith("https://"):
            raise self._unreadable(linked, "generating the inquiry's one-time link",
                                   _request_id(linked))
        return Started(verification_id=inquiry, link=link, request_id=_request_id(created))

    def read_callback(self, body: bytes, headers: Mapping[str, str]) -> Result:
        signed_at = self._check_signature(body, headers.get(SIGNATURE_HEADER) or "")
        try:
            event = json.loads(body)
        except ValueError:
            raise CallbackRefused("unreadable", "The callback's body is not JSON.") from None
        data = event.get("data") if isinstance(event, dict) else None
        attributes = data.get("attributes") if isinstance(data, dict) else None
        payload = attributes.get("payload") if isinstance(attributes, dict) else None
        inquiry = payload.get("data") if isinstance(payload, dict) else None
        fields = inquiry.get("attributes") if isinstance(inquiry, dict) else None
        if (not isinstance(fields, dict) or data.get("type") != "event"
                or inquiry.get("type") != "inquiry" or not isinstance(data.get("id"), str)
                or not isinstance(inquiry.get("id"), str)):
            raise CallbackRefused("unreadable", "The callback is not a Persona inquiry event.")
        name, status = str(attributes.get("name") or ""), str(fields.get("status") or "")
        return Result(event_id=data["id"], event=name, verification_id=inquiry["id"],
                      subject=str(fields.get("reference-id") or ""),
                      template=_template_of(inquiry), status=status,
                      outcome=OUTCOMES.get((name, status), UNDECIDED), signed_at=signed_at,
                      created_at=parse_time(attributes.get("created-at")))

    def _check_signature(self, body: bytes, header: str) -> datetime:
        """The time of the first ``t=…,v1=…`` set whose HMAC matches the
        secret; several sets are sent while the secret is being rotated."""
        if not self.webhook_secret:
            raise CallbackRefused("bad_signature", "No webhook secret is configured.")
        for signature_set in header.split():
            pairs = dict(part.split("=", 1) for part in signature_set.split(",") if "=" in part)
            stamp, given = pairs.get("t", ""), pairs.get("v1", "")
            if not stamp.isdigit() or not given:
                continue
            expected = hmac.new(self.webhook_secret.encode(), stamp.encode() + b"." + body,
                                hashlib.sha256).hexdigest()
            if hmac.compare_digest(expected, given):
                return datetime.fromtimestamp(int(stamp), UTC)
        raise CallbackRefused("bad_signature", "The callback's Persona-Signature does not "
                              "match the webhook secret.")

    def _error(self, response: Response, what: str):
        body = response.json()
        errors = body.get("errors") if isinstance(body, dict) else None
        said = [f"{e.get('title', '')}{': ' + str(e['details']) if e.get('details') else ''}"
                for e in errors or [] if isinstance(e, dict)]
        return self._classified(response, what, detail="; ".join(s for s in said if s),
                                request_id=_request_id(response), code="")


def _request_id(response: Response) -> str:
    # https://docs.withpersona.com/request-ids
    return response.headers.get("Request-Id") or response.headers.get("X-Request-Id") or ""


def _template_of(inquiry: dict) -> str:
    """The inquiry's template: ``inquiry-template`` since 2023, ``template`` before."""
    relations = inquiry.get("relationships")
    if not isinstance(relations, dict):
        return ""
    for name in ("inquiry-template", "template"):
        linked = relations.get(name)
        data = linked.get("data") if isinstance(linked, dict) else None
        if isinstance(data, dict) and data.get("id"):
            return str(data["id"])
    return ""
