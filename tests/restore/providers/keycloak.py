"""Keycloak's token endpoint and Admin REST API as documented: every answer
the tests' local server gives in its place, each citing the page it follows."""

from ..server import Reply

REALM = "staff"
USER = "39839a9b-de08-4d2c-b91a-a6ce2595b1f3"
TOKEN_PATH = f"/realms/{REALM}/protocol/openid-connect/token"
USER_PATH = f"/admin/realms/{REALM}/users/{USER}"
ACTIONS_PATH = f"{USER_PATH}/execute-actions-email"
CREDENTIALS_PATH = f"{USER_PATH}/credentials"
LOGOUT_PATH = f"{USER_PATH}/logout"

ADMIN_API = "https://www.keycloak.org/docs-api/latest/rest-api/index.html"
SERVICE_ACCOUNTS = "https://www.keycloak.org/docs/latest/server_admin/#_service_accounts"
TOKEN_ERRORS = "https://datatracker.ietf.org/doc/html/rfc6749#section-5.2"


def token() -> Reply:
    return Reply(200, {"access_token": "eyJhbGciOiJSUzI1NiIsInR5cCIgOiAiSldUIiwia2lkIiA6ICJx",
                       "expires_in": 300, "refresh_expires_in": 0, "token_type": "Bearer",
                       "not-before-policy": 0, "scope": "profile email"},
                 doc=SERVICE_ACCOUNTS)


def token_refused() -> Reply:
    return Reply(401, {"error": "unauthorized_client",
                       "error_description": "Invalid client or Invalid client credentials"},
                 doc=TOKEN_ERRORS)


def user() -> Reply:
    return Reply(200, {"id": USER, "username": "ibrock", "enabled": True,
                       "email": "isaac.brock@example.com", "emailVerified": True,
                       "requiredActions": [], "createdTimestamp": 1743500000000},
                 doc=ADMIN_API)


def no_content() -> Reply:
    return Reply(204, doc=ADMIN_API)


def credentials(*passkey_ids: str) -> Reply:
    return Reply(200, [
        {"id": "b1a2c3d4-password", "type": "password", "createdDate": 1743500000000,
         "credentialData": "{\"hashIterations\":27500,\"algorithm\":\"pbkdf2-sha256\"}"},
        *({"id": i, "type": "webauthn-passwordless", "userLabel": "YubiKey 5",
           "createdDate": 1743500000000} for i in passkey_ids),
    ], doc=ADMIN_API)


def error(status: int, body: dict) -> Reply:
    return Reply(status, body, doc=ADMIN_API)


def unauthorized() -> Reply:
    return error(401, {"error": "HTTP 401 Unauthorized"})


def forbidden() -> Reply:
    return error(403, {"error": "HTTP 403 Forbidden"})


def not_found() -> Reply:
    return error(404, {"error": "User not found"})


def conflict() -> Reply:
    return error(409, {"errorMessage": "User exists with same username"})


def no_email() -> Reply:
    return error(400, {"errorMessage": "User email missing"})


def throttled() -> Reply:
    return Reply(429, {"error": "Too many requests"}, headers={"Retry-After": "30"},
                 doc=ADMIN_API)


def email_failed() -> Reply:
    return error(500, {"errorMessage": "Failed to send execute actions email"})
