"""Okta's Management API as documented: every answer the tests' local server
gives in its place, each citing the page it follows."""

from datetime import UTC, datetime, timedelta

from ..server import Reply

USER = "00u8ja5c4uf26HSeN0g7"
USER_PATH = f"/api/v1/users/{USER}"
ENROLLMENTS_PATH = f"{USER_PATH}/authenticator-enrollments"
TAC_PATH = f"{ENROLLMENTS_PATH}/tac"
FACTORS_PATH = f"{USER_PATH}/factors"
SESSIONS_PATH = f"{USER_PATH}/sessions"
TAC_AUTHENTICATOR = "aut1nd8PQhGcQtSxB0g4"
TAC_ID = "tac8k59d3cvCEYniC0g7"
TAC_VALUE = "4&^CnBV^3^u4b^Hg"
REQUEST_ID = "reqVy8wsvmBQN27h4soUE3ZEnA"

TAC_GUIDE = "https://developer.okta.com/docs/guides/authenticators-tac-authenticator/main/"
ENROLLMENTS = ("https://developer.okta.com/docs/api/openapi/okta-management/management/tag/"
               "UserAuthenticatorEnrollments/")
FACTORS = ("https://developer.okta.com/docs/api/openapi/okta-management/management/tag/"
           "UserFactor/")
SESSIONS = ("https://developer.okta.com/docs/api/openapi/okta-management/management/tag/"
            "UserSessions/#tag/UserSessions/operation/revokeUserSessions")
USERS = "https://developer.okta.com/docs/api/openapi/okta-management/management/tag/User/"
ERRORS = "https://developer.okta.com/docs/reference/error-codes/"
RATE_LIMITS = "https://developer.okta.com/docs/reference/rl-best-practices/"


def _headers(request_id: str = REQUEST_ID) -> dict[str, str]:
    # Every answer carries its request id and the rate-limit window.
    return {"X-Okta-Request-Id": request_id, "X-Rate-Limit-Limit": "600",
            "X-Rate-Limit-Remaining": "599", "X-Rate-Limit-Reset": "1796007060"}


def user() -> Reply:
    return Reply(200, {"id": USER, "status": "ACTIVE", "created": "2025-03-01T10:00:00.000Z",
                       "profile": {"login": "isaac.brock@example.com", "firstName": "Isaac",
                                   "lastName": "Brock", "email": "isaac.brock@example.com"}},
                 headers=_headers(), doc=USERS)


def tac_created(multi_use: bool = False, created: datetime | None = None) -> Reply:
    """Created now (or at ``created``), for an hour: Okta dates the code when it makes it."""
    created = created or datetime.now(UTC).replace(microsecond=0)
    expires = (created + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    made = created.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return Reply(200, {
        "id": TAC_ID, "type": "tac", "key": "tac", "name": "Temporary Access Code",
        "status": "ACTIVE",
        "profile": {"tac": TAC_VALUE, "multiUse": multi_use, "expiresAt": expires},
        "created": made, "lastUpdated": made,
        "nickname": "",
        "_links": {"self": {"href": f"https://example.okta.com{ENROLLMENTS_PATH}/{TAC_ID}",
                            "hints": {"allow": ["GET", "DELETE"]}}}},
        headers=_headers(), doc=TAC_GUIDE)


def enrollments(*tac_ids: str) -> Reply:
    """The person's enrollments as listed: a code's value is never returned again."""
    return Reply(200, [
        {"id": "pfdb4bjsJsGW7Kda0g4", "type": "password", "key": "okta_password",
         "status": "ACTIVE", "profile": {}},
        *({"id": i, "type": "tac", "key": "tac", "status": "ACTIVE",
           "created": "2026-11-30T02:40:00.000Z",
           "profile": {"multiUse": False, "expiresAt": "2026-11-30T03:40:00"}} for i in tac_ids),
    ], headers=_headers(), doc=ENROLLMENTS)


def factors(*webauthn_ids: str) -> Reply:
    return Reply(200, [
        {"id": "ostf1fmaMGJLMNGNLIVG", "factorType": "token:software:totp", "provider": "OKTA",
         "status": "ACTIVE", "profile": {"credentialId": "isaac.brock@example.com"}},
        *({"id": i, "factorType": "webauthn", "provider": "FIDO", "vendorName": "FIDO",
           "status": "ACTIVE", "profile": {"credentialId": "l3Br0n-7H3g047NqESqJynFtIgf3Ix9O",
                                           "authenticatorName": "YubiKey 5"}}
          for i in webauthn_ids),
    ], headers=_headers(), doc=FACTORS)


def no_content(doc: str) -> Reply:
    return Reply(204, headers=_headers(), doc=doc)


def okta_error(status: int, code: str, summary: str, *, causes=(), headers=None,
               doc: str = ERRORS) -> Reply:
    """Okta's error body: {errorCode, errorSummary, errorLink, errorId, errorCauses}."""
    return Reply(status, {"errorCode": code, "errorSummary": summary, "errorLink": code,
                          "errorId": "oaeW1EmYy0rRNqSbB4ymB3lKQ",
                          "errorCauses": [{"errorSummary": c} for c in causes]},
                 headers={**_headers(), **(headers or {})}, doc=doc)


def unauthorized() -> Reply:
    return okta_error(401, "E0000011", "Invalid token provided")


def forbidden() -> Reply:
    return okta_error(403, "E0000006", "You do not have permission to perform the requested "
                      "action")


def not_found() -> Reply:
    return okta_error(404, "E0000007", f"Not found: Resource not found: {USER} (User)")


def conflict() -> Reply:
    return okta_error(409, "E0000157", "This action cannot be completed because the user's "
                      "status does not allow it.")


def rejected() -> Reply:
    return okta_error(400, "E0000001", "Api validation failed: ttl",
                      causes=["ttl: The value must be between 10 and 14400."])


def throttled(wait: int = 13) -> Reply:
    """429 without Retry-After: the window resets at X-Rate-Limit-Reset
    (epoch seconds), read against the answer's Date."""
    return okta_error(429, "E0000047", "API call exceeded rate limit due to too many requests.",
                      headers={"X-Rate-Limit-Remaining": "0",
                               "Date": "Mon, 30 Nov 2026 02:51:00 GMT",
                               "X-Rate-Limit-Reset": str(1796007060 + wait)},
                      doc=RATE_LIMITS)


def server_error() -> Reply:
    return okta_error(500, "E0000009", "Internal Server Error")
