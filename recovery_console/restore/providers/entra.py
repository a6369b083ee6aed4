"""Microsoft Entra ID through Microsoft Graph v1.0: a Temporary Access Pass
(single use, the policy's lifetime), the person's FIDO2 passkeys deleted and
their sign-in sessions revoked.

The app registration needs the application permissions
UserAuthenticationMethod.ReadWrite.All (passes and passkeys) and
User.RevokeSessions.All (sessions); User.Read.All reads the person.

Documentation followed:
- token: https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow
- pass: https://learn.microsoft.com/en-us/graph/api/authentication-post-temporaryaccesspassmethods
- passkeys: https://learn.microsoft.com/en-us/graph/api/fido2authenticationmethod-delete
- sessions: https://learn.microsoft.com/en-us/graph/api/user-revokesigninsessions
- errors: https://learn.microsoft.com/en-us/graph/errors ; throttling (429,
  Retry-After): https://learn.microsoft.com/en-us/graph/throttling
"""

from __future__ import annotations

import uuid
from datetime import timedelta
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
from .oauth import ClientCredentials, oauth_error

GRAPH = "https://graph.microsoft.com/v1.0"
LOGIN = "https://login.microsoftonline.com"
# Graph accepts a Temporary Access Pass lifetime of 10 to 43200 minutes.
MIN_MINUTES, MAX_MINUTES = 10, 43200


class EntraConnector(Connector):
    provider = "entra"
    label = "Entra ID"

    def __init__(self, *, tenant: str, client_id: str, client_secret: str,
                 graph_url: str = GRAPH, login_url: str = LOGIN, timeout: float = 10.0):
        super().__init__(timeout=timeout)
        self.graph_url = graph_url.rstrip("/")
        self.token = ClientCredentials(
            self, f"{login_url.rstrip('/')}/{quote(tenant, safe='')}/oauth2/v2.0/token",
            {"client_id": client_id, "client_secret": client_secret,
             "scope": "https://graph.microsoft.com/.default",
             "grant_type": "client_credentials"})

    def _call(self, method: str, path: str, *, what: str, json_body=None,
              client_request_id: str | None = None) -> Response:
        headers = {**self.token.header(),
                   # Graph echoes it back and logs it: the provider's support
                   # can find the call from the console's audit entry.
                   "client-request-id": client_request_id or str(uuid.uuid4())}
        return self._send(method, self.graph_url + path, headers=headers, json_body=json_body,
                          what=what)

    @staticmethod
    def _user(subject_id: str) -> str:
        return f"/users/{quote(subject_id, safe='')}"

    def find_subject(self, subject_id: str) -> Subject:
        response = self._call("GET", self._user(subject_id) + "?$select=id,userPrincipalName",
                              what="looking the person up")
        body = response.json()
        if not isinstance(body, dict) or not body.get("id"):
            raise self._unreadable(response, "looking the person up", _request_id(response))
        return Subject(id=body["id"], login=body.get("userPrincipalName") or "",
                       request_id=_request_id(response))

    def find_temporary_credentials(self, subject: Subject) -> list[TemporaryCredential]:
        response = self._call(
            "GET", self._user(subject.id) + "/authentication/temporaryAccessPassMethods",
            what="listing Temporary Access Passes")
        return [self._pass(item, response) for item in _values(self, response, "listing passes")]

    def issue_temporary_credential(self, subject: Subject, lifetime: timedelta,
                                   single_use: bool, idempotency_key: str
                                   ) -> TemporaryCredential:
        minutes = int(lifetime.total_seconds() // 60)
        minutes = min(max(minutes, MIN_MINUTES), MAX_MINUTES)
        response = self._call(
            "POST", self._user(subject.id) + "/authentication/temporaryAccessPassMethods",
            json_body={"isUsableOnce": single_use, "lifetimeInMinutes": minutes},
            client_request_id=str(uuid.uuid5(uuid.NAMESPACE_URL, idempotency_key)),
            what="creating a Temporary Access Pass")
        body = response.json()
        if not isinstance(body, dict) or not body.get("temporaryAccessPass") or not body.get("id"):
            raise self._unreadable(response, "creating a Temporary Access Pass",
                                   _request_id(response))
        return self._pass(body, response)

    def remove_temporary_credential(self, subject: Subject, credential_id: str) -> Outcome:
        response = self._call(
            "DELETE", self._user(subject.id) + "/authentication/temporaryAccessPassMethods/"
            + quote(credential_id, safe=""), what="deleting a Temporary Access Pass")
        return Outcome(removed=[credential_id], request_ids=[_request_id(response)])

    def remove_passkeys(self, subject: Subject) -> Outcome:
        listing = self._call("GET", self._user(subject.id) + "/authentication/fido2Methods",
                             what="listing passkeys")
        outcome = Outcome(request_ids=[_request_id(listing)])
        for method in _values(self, listing, "listing passkeys"):
            answer = self._call(
                "DELETE", self._user(subject.id) + "/authentication/fido2Methods/"
                + quote(str(method["id"]), safe=""), what="deleting a passkey")
            outcome.removed.append(str(method["id"]))
            outcome.request_ids.append(_request_id(answer))
        return outcome

    def revoke_sessions(self, subject: Subject) -> Outcome:
        response = self._call("POST", self._user(subject.id) + "/revokeSignInSessions",
                              what="revoking sign-in sessions")
        return Outcome(request_ids=[_request_id(response)])

    def _pass(self, item: dict, response: Response) -> TemporaryCredential:
        start = parse_time(item.get("startDateTime")) or parse_time(item.get("createdDateTime"))
        minutes = item.get("lifetimeInMinutes")
        return TemporaryCredential(
            id=str(item.get("id")), secret=item.get("temporaryAccessPass") or "",
            expires_at=start + timedelta(minutes=int(minutes)) if start and minutes else None,
            single_use=bool(item.get("isUsableOnce")), request_id=_request_id(response),
            created_at=parse_time(item.get("createdDateTime")))

    def _error(self, response: Response, what: str) -> ProviderError:
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            # Graph: {"error": {"code", "message", "innerError": {"request-id", ...}}}
            inner = error.get("innerError") or error.get("innererror") or {}
            request_id = _request_id(response) or str(inner.get("request-id") or "")
            code = str(error.get("code") or "")
            message = str(error.get("message") or "")
            return self._classified(response, what, request_id=request_id, code=code,
                                    detail=f"{code}: {message}" if code else message)
        # The token endpoint: {"error", "error_description", "trace_id", "correlation_id"}
        code, description = oauth_error(response)
        request_id = str(body.get("trace_id") or "") if isinstance(body, dict) else ""
        return self._classified(response, what, request_id=request_id or _request_id(response),
                                code=code, detail=description.split("\r\n")[0])


def _request_id(response: Response) -> str:
    return response.headers.get("request-id") or ""


def _values(connector: Connector, response: Response, what: str) -> list[dict]:
    body = response.json()
    values = body.get("value") if isinstance(body, dict) else None
    if not isinstance(values, list) or not all(isinstance(v, dict) and v.get("id")
                                               for v in values):
        raise connector._unreadable(response, what, _request_id(response))
    return values
