"""Keycloak through its Admin REST API: an "execute actions" email asking the
person to register a new passwordless passkey (required action
``webauthn-register-passwordless``) through a link valid for the policy's
lifetime, the person's WebAuthn credentials deleted and their sessions
logged out.

Keycloak delivers this credential itself, by email to the address it holds:
the console never sees a secret to deliver or read out.

The console signs in with a confidential client whose service account holds
the realm-management roles ``view-users`` and ``manage-users`` (nothing more).

Documentation followed:
- token: https://www.keycloak.org/docs/latest/server_admin/#_service_accounts
- admin API: https://www.keycloak.org/docs-api/latest/rest-api/index.html (Users:
  execute-actions-email, credentials, logout)
- required action: https://www.keycloak.org/docs/latest/server_admin/#_webauthn_passwordless
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlencode

from . import Connector, Outcome, ProviderError, Response, Subject, TemporaryCredential
from .oauth import ClientCredentials, oauth_error

ACTION = "webauthn-register-passwordless"
PASSKEY_TYPES = {"webauthn", "webauthn-passwordless"}


class KeycloakConnector(Connector):
    provider = "keycloak"
    label = "Keycloak"

    def __init__(self, *, base_url: str, realm: str, client_id: str, client_secret: str,
                 token_realm: str = "", redirect_client_id: str = "", redirect_uri: str = "",
                 timeout: float = 10.0):
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/")
        self.realm = realm
        self.redirect_client_id = redirect_client_id
        self.redirect_uri = redirect_uri
        self.token = ClientCredentials(
            self, f"{self.base_url}/realms/{quote(token_realm or realm, safe='')}"
                  "/protocol/openid-connect/token",
            {"grant_type": "client_credentials", "client_id": client_id,
             "client_secret": client_secret})

    def _call(self, method: str, path: str, *, what: str, json_body=None) -> Response:
        return self._send(method, self.base_url + path, headers=self.token.header(),
                          json_body=json_body, what=what)

    def _user(self, subject_id: str) -> str:
        return (f"/admin/realms/{quote(self.realm, safe='')}"
                f"/users/{quote(subject_id, safe='')}")

    def find_subject(self, subject_id: str) -> Subject:
        response = self._call("GET", self._user(subject_id), what="looking the person up")
        body = response.json()
        if not isinstance(body, dict) or not body.get("id"):
            raise self._unreadable(response, "looking the person up")
        return Subject(id=body["id"], login=body.get("username") or "")

    def find_temporary_credentials(self, subject: Subject) -> list[TemporaryCredential]:
        # An execute-actions link is a signed token Keycloak keeps nowhere:
        # there is nothing to list, and sending another is harmless.
        return []

    def issue_temporary_credential(self, subject: Subject, lifetime: timedelta,
                                   single_use: bool, idempotency_key: str
                                   ) -> TemporaryCredential:
        seconds = max(int(lifetime.total_seconds()), 60)
        query = {"lifespan": str(seconds)}
        if self.redirect_client_id:
            query["client_id"] = self.redirect_client_id
            if self.redirect_uri:
                query["redirect_uri"] = self.redirect_uri
        self._call("PUT", self._user(subject.id) + "/execute-actions-email?" + urlencode(query),
                   json_body=[ACTION], what="sending the passkey registration email")
        now = datetime.now(UTC)
        # Whether the link works more than once until it expires is Keycloak's
        # rule, not the console's: it is not claimed single use.
        return TemporaryCredential(
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, idempotency_key)), secret="",  # nosec B106
            expires_at=now + timedelta(seconds=seconds), single_use=False,
            delivered_by_provider=True, created_at=now)

    def remove_temporary_credential(self, subject: Subject, credential_id: str) -> Outcome:
        return Outcome()

    def remove_passkeys(self, subject: Subject) -> Outcome:
        listing = self._call("GET", self._user(subject.id) + "/credentials",
                             what="listing credentials")
        body = listing.json()
        if not isinstance(body, list) or not all(isinstance(c, dict) and c.get("id")
                                                 for c in body):
            raise self._unreadable(listing, "listing credentials")
        outcome = Outcome()
        for credential in body:
            if credential.get("type") not in PASSKEY_TYPES:
                continue
            self._call("DELETE", self._user(subject.id) + "/credentials/"
                       + quote(str(credential["id"]), safe=""), what="deleting a passkey")
            outcome.removed.append(str(credential["id"]))
        return outcome

    def revoke_sessions(self, subject: Subject) -> Outcome:
        self._call("POST", self._user(subject.id) + "/logout", what="logging the person out")
        return Outcome()

    def _error(self, response: Response, what: str) -> ProviderError:
        # Admin API: {"error": "..."} or {"errorMessage": "..."}; token endpoint:
        # {"error", "error_description"} (RFC 6749 §5.2). No request id header.
        body = response.json()
        body = body if isinstance(body, dict) else {}
        code, description = oauth_error(response)
        detail = str(body.get("errorMessage") or description or body.get("error") or "")
        return self._classified(response, what, detail=detail, request_id="",
                                code=code if description else "")
