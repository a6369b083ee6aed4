"""Okta (Identity Engine) through its Management API: a Temporary Access Code
(TAC authenticator enrollment, single use, the policy's lifetime), the
person's WebAuthn factors deleted and their sessions (and OAuth tokens)
revoked.

The console signs in with an API token (``Authorization: SSWS ...``) of an
admin holding the Help Desk Administrator role, or a custom role limited to
"manage users' authenticators" and "clear user sessions". The TAC authenticator
must be added in the org (Security > Authenticators) and its id configured.
``lifecycle/reset_factors`` is not used: it would remove every factor,
the new code included.

Documentation followed:
- TAC: https://developer.okta.com/docs/guides/authenticators-tac-authenticator/main/ and
  https://developer.okta.com/docs/api/openapi/okta-management/management/tag/UserAuthenticatorEnrollments/
- factors: https://developer.okta.com/docs/api/openapi/okta-management/management/tag/UserFactor/
- sessions: https://developer.okta.com/docs/api/openapi/okta-management/management/tag/UserSessions/
- errors: https://developer.okta.com/docs/reference/error-codes/
- rate limits: https://developer.okta.com/docs/reference/rl-best-practices/
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote

from . import (
    Connector,
    Outcome,
    ProviderError,
    Response,
    Subject,
    TemporaryCredential,
    parse_time,
)

# The TAC authenticator accepts a lifetime of 10 minutes to 10 days.
MIN_MINUTES, MAX_MINUTES = 10, 14400


class OktaConnector(Connector):
    provider = "okta"
    label = "Okta"

    def __init__(self, *, org_url: str, api_token: str, tac_authenticator_id: str,
                 timeout: float = 10.0):
        super().__init__(timeout=timeout)
        self.org_url = org_url.rstrip("/")
        self.api_token = api_token
        self.tac_authenticator_id = tac_authenticator_id

    def _call(self, method: str, path: str, *, what: str, json_body=None) -> Response:
        return self._send(method, self.org_url + path, what=what, json_body=json_body,
                          headers={"Authorization": f"SSWS {self.api_token}"})

    @staticmethod
    def _user(subject_id: str) -> str:
        return f"/api/v1/users/{quote(subject_id, safe='')}"

    def find_subject(self, subject_id: str) -> Subject:
        response = self._call("GET", self._user(subject_id), what="looking the person up")
        body = response.json()
        if not isinstance(body, dict) or not body.get("id"):
            raise self._unreadable(response, "looking the person up", _request_id(response))
        return Subject(id=body["id"], login=(body.get("profile") or {}).get("login") or "",
                       request_id=_request_id(response))

    def find_temporary_credentials(self, subject: Subject) -> list[TemporaryCredential]:
        response = self._call("GET", self._user(subject.id) + "/authenticator-enrollments",
                              what="listing authenticator enrollments")
        items = _list(self, response, "listing authenticator enrollments")
        return [self._code(item, response) for item in items if item.get("type") == "tac"]

    def issue_temporary_credential(self, subject: Subject, lifetime: timedelta,
                                   single_use: bool, idempotency_key: str
                                   ) -> TemporaryCredential:
        # Okta takes no idempotency key: the workflow checks
        # find_temporary_credentials before calling this again.
        minutes = min(max(int(lifetime.total_seconds() // 60), MIN_MINUTES), MAX_MINUTES)
        response = self._call(
            "POST", self._user(subject.id) + "/authenticator-enrollments/tac",
            json_body={"authenticatorId": self.tac_authenticator_id,
                       "profile": {"ttl": str(minutes), "multiUse": not single_use}},
            what="creating a Temporary Access Code")
        body = response.json()
        profile = body.get("profile") if isinstance(body, dict) else None
        if not isinstance(profile, dict) or not profile.get("tac") or not body.get("id"):
            raise self._unreadable(response, "creating a Temporary Access Code",
                                   _request_id(response))
        return self._code(body, response)

    def remove_temporary_credential(self, subject: Subject, credential_id: str) -> Outcome:
        response = self._call(
            "DELETE", self._user(subject.id) + "/authenticator-enrollments/"
            + quote(credential_id, safe=""), what="deleting a Temporary Access Code")
        return Outcome(removed=[credential_id], request_ids=[_request_id(response)])

    def remove_passkeys(self, subject: Subject) -> Outcome:
        listing = self._call("GET", self._user(subject.id) + "/factors",
                             what="listing factors")
        outcome = Outcome(request_ids=[_request_id(listing)])
        for factor in _list(self, listing, "listing factors"):
            if factor.get("factorType") != "webauthn":
                continue
            answer = self._call("DELETE", self._user(subject.id) + "/factors/"
                                + quote(str(factor["id"]), safe=""), what="deleting a passkey")
            outcome.removed.append(str(factor["id"]))
            outcome.request_ids.append(_request_id(answer))
        return outcome

    def revoke_sessions(self, subject: Subject) -> Outcome:
        # oauthTokens=true also revokes the tokens Okta issued to applications.
        response = self._call("DELETE", self._user(subject.id) + "/sessions?oauthTokens=true",
                              what="revoking sessions")
        return Outcome(request_ids=[_request_id(response)])

    def _code(self, item: dict, response: Response) -> TemporaryCredential:
        profile = item.get("profile") or {}
        return TemporaryCredential(
            id=str(item.get("id")), secret=profile.get("tac") or "",
            expires_at=parse_time(profile.get("expiresAt")),
            single_use=not profile.get("multiUse", False), request_id=_request_id(response),
            created_at=parse_time(item.get("created")))

    def _error(self, response: Response, what: str) -> ProviderError:
        # {"errorCode", "errorSummary", "errorLink", "errorId", "errorCauses": [{"errorSummary"}]}
        body = response.json()
        body = body if isinstance(body, dict) else {}
        causes = [c.get("errorSummary") for c in body.get("errorCauses") or []
                  if isinstance(c, dict) and c.get("errorSummary")]
        summary = str(body.get("errorSummary") or "")
        code = str(body.get("errorCode") or "")
        detail = "; ".join([f"{code}: {summary}" if code else summary, *causes]).strip("; ")
        return self._classified(response, what, detail=detail, code=code,
                                request_id=_request_id(response) or str(body.get("errorId") or ""),
                                retry_after=_reset_in(response) if response.status == 429
                                else None)


def _request_id(response: Response) -> str:
    return response.headers.get("X-Okta-Request-Id") or ""


def _reset_in(response: Response) -> int | None:
    """Okta sends no Retry-After: X-Rate-Limit-Reset is the epoch second the
    window resets, measured against the answer's own Date (clocks differ)."""
    reset = response.headers.get("X-Rate-Limit-Reset")
    if not reset:
        return None
    try:
        reset_at = datetime.fromtimestamp(int(reset), UTC)
    except (ValueError, OverflowError):
        return None
    try:
        said_at = parsedate_to_datetime(response.headers.get("Date") or "")
    except (TypeError, ValueError):
        said_at = datetime.now(UTC)
    return max(0, math.ceil((reset_at - said_at).total_seconds()))


def _list(connector: Connector, response: Response, what: str) -> list[dict]:
    body = response.json()
    if not isinstance(body, list) or not all(isinstance(i, dict) and i.get("id") for i in body):
        raise connector._unreadable(response, what, _request_id(response))
    return body
