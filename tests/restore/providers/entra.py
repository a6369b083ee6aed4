"""Microsoft Entra ID (identity platform token endpoint and Microsoft Graph
v1.0) as documented: every answer the tests' local server gives in its
place, each citing the page it follows."""

from datetime import UTC, datetime

from ..server import Reply

TENANT = "contoso.onmicrosoft.com"
USER = "071cc716-8147-4397-a5ba-b2105951cc0b"
TOKEN_PATH = f"/{TENANT}/oauth2/v2.0/token"
USER_PATH = f"/v1.0/users/{USER}"
PASSES_PATH = f"{USER_PATH}/authentication/temporaryAccessPassMethods"
FIDO2_PATH = f"{USER_PATH}/authentication/fido2Methods"
REVOKE_PATH = f"{USER_PATH}/revokeSignInSessions"
PASS_ID = "6f1967b7-15e8-4935-ac26-d50770ed07a7"
PASS_VALUE = "+drkzqAD"
REQUEST_ID = "94fb3b52-452a-4535-a601-69e0a90e3aa2"

CLIENT_CREDENTIALS = (
    "https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow")
CREATE_PASS = "https://learn.microsoft.com/en-us/graph/api/authentication-post-temporaryaccesspassmethods"
LIST_PASSES = "https://learn.microsoft.com/en-us/graph/api/authentication-list-temporaryaccesspassmethods"
DELETE_PASS = "https://learn.microsoft.com/en-us/graph/api/temporaryaccesspassauthenticationmethod-delete"
LIST_FIDO2 = "https://learn.microsoft.com/en-us/graph/api/fido2authenticationmethod-list"
DELETE_FIDO2 = "https://learn.microsoft.com/en-us/graph/api/fido2authenticationmethod-delete"
REVOKE = "https://learn.microsoft.com/en-us/graph/api/user-revokesigninsessions"
GET_USER = "https://learn.microsoft.com/en-us/graph/api/user-get"
ERRORS = "https://learn.microsoft.com/en-us/graph/errors"
THROTTLING = "https://learn.microsoft.com/en-us/graph/throttling"


def _ids(request_id: str = REQUEST_ID) -> dict[str, str]:
    # Graph answers every call with request-id and echoes client-request-id.
    return {"request-id": request_id, "client-request-id": request_id}


def token() -> Reply:
    return Reply(200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                       "access_token": "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsIng1dCI6Ik5HVEZ2ZEst"},
                 doc=CLIENT_CREDENTIALS)


def token_refused() -> Reply:
    """A wrong client secret: 401 invalid_client, AADSTS7000215."""
    return Reply(401, {
        "error": "invalid_client",
        "error_description": "AADSTS7000215: Invalid client secret provided. Ensure the secret "
                             "being sent in the request is the client secret value.\r\nTrace ID: "
                             "0000aaaa-11bb-cccc-dd22-eeeeee333333",
        "error_codes": [7000215], "timestamp": "2026-11-30 02:50:00Z",
        "trace_id": "0000aaaa-11bb-cccc-dd22-eeeeee333333",
        "correlation_id": "aaaa0000-bb11-2222-33cc-444444dddddd"}, doc=CLIENT_CREDENTIALS)


def user() -> Reply:
    return Reply(200, {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users"
                       "(id,userPrincipalName)/$entity",
                       "id": USER, "userPrincipalName": "AdeleV@contoso.com"},
                 headers=_ids(), doc=GET_USER)


def pass_created(lifetime: int = 60, once: bool = True, created: str = "") -> Reply:
    """Created now (or at ``created``): Graph dates the pass when it makes it."""
    created = created or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Reply(201, {
        "@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethod",
        "id": PASS_ID, "temporaryAccessPass": PASS_VALUE,
        "createdDateTime": created, "startDateTime": created,
        "lifetimeInMinutes": lifetime, "isUsableOnce": once, "isUsable": True,
        "methodUsabilityReason": "EnabledByPolicy"}, headers=_ids(), doc=CREATE_PASS)


def passes(*created: str) -> Reply:
    """The person's passes as listed: the value is never returned again."""
    return Reply(200, {
        "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#users('{USER}')/"
                          "authentication/temporaryAccessPassMethods",
        "value": [{"id": PASS_ID, "temporaryAccessPass": None, "createdDateTime": when,
                   "startDateTime": when, "lifetimeInMinutes": 60, "isUsableOnce": True,
                   "isUsable": True, "methodUsabilityReason": "EnabledByPolicy"}
                  for when in created]}, headers=_ids(), doc=LIST_PASSES)


def fido2_methods(*ids: str) -> Reply:
    return Reply(200, {
        "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#users('{USER}')/"
                          "authentication/fido2Methods",
        "value": [{"id": i, "displayName": "Red key", "createdDateTime": "2025-08-03T15:48:00Z",
                   "aaGuid": "2fc0579f-8113-47ea-b116-bb5a8db9202a", "model": "YubiKey 5 NFC",
                   "attestationCertificates": [], "attestationLevel": "attested"} for i in ids]},
        headers=_ids(), doc=LIST_FIDO2)


def deleted(doc: str) -> Reply:
    return Reply(204, headers=_ids(), doc=doc)


def revoked() -> Reply:
    return Reply(200, {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Edm.Boolean",
                       "value": True}, headers=_ids(), doc=REVOKE)


def graph_error(status: int, code: str, message: str, headers: dict | None = None,
                request_id: str = REQUEST_ID) -> Reply:
    """Graph's error body: {"error": {"code", "message", "innerError"}}."""
    return Reply(status, {"error": {"code": code, "message": message, "innerError": {
        "date": "2026-11-30T02:50:09", "request-id": request_id,
        "client-request-id": request_id}}},
        headers={**_ids(request_id), **(headers or {})},
        doc=THROTTLING if status == 429 else ERRORS)


def unauthorized() -> Reply:
    return graph_error(401, "InvalidAuthenticationToken", "Access token has expired or is "
                       "not yet valid.")


def forbidden() -> Reply:
    return graph_error(403, "Authorization_RequestDenied", "Insufficient privileges to "
                       "complete the operation.")


def not_found() -> Reply:
    return graph_error(404, "Request_ResourceNotFound", f"Resource '{USER}' does not exist or "
                       "one of its queried reference-property objects are not present.")


def conflict() -> Reply:
    return graph_error(409, "conflict", "The operation conflicts with the current state of "
                       "the authentication methods.")


def throttled(seconds: int = 7) -> Reply:
    return graph_error(429, "TooManyRequests", "Please retry again later.",
                       headers={"Retry-After": str(seconds)})


def unavailable() -> Reply:
    return graph_error(503, "serviceNotAvailable", "The service is temporarily unavailable "
                       "for maintenance or is overloaded.", headers={"Retry-After": "3"})
