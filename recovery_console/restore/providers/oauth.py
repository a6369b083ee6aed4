"""The OAuth 2.0 client-credentials grant (RFC 6749 §4.4), as Entra ID and
Keycloak answer it: the console's own access token, kept until shortly
before it expires."""

from __future__ import annotations

import time

from . import Connector, Kind, ProviderError, Response

# Refused credentials come back from a token endpoint as 400 or 401 with one
# of these codes (RFC 6749 §5.2): a set-up problem, never worth a retry.
_BAD_CLIENT = {"invalid_client", "unauthorized_client", "invalid_grant", "invalid_scope"}


class ClientCredentials:
    """Fetches and caches the console's access token for one connector."""

    def __init__(self, connector: Connector, token_url: str, form: dict[str, str]):
        self.connector = connector
        self.token_url = token_url
        self.form = form
        self._token = ""  # nosec B105
        self._until = 0.0

    def header(self) -> dict[str, str]:
        if not self._token or time.monotonic() >= self._until:
            self._fetch()
        return {"Authorization": f"Bearer {self._token}"}

    def forget(self) -> None:
        self._token, self._until = "", 0.0

    def _fetch(self) -> None:
        connector = self.connector
        try:
            response = connector._send("POST", self.token_url, form=self.form,
                                       what="the console's sign-in (access token)")
        except ProviderError as refused:
            raise self._token_error(refused) from refused
        body = response.json() or {}
        token = body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise connector._unreadable(response, "the console's sign-in (access token)")
        self._token = token
        lifetime = int(body.get("expires_in") or 300)
        # A minute's margin so a token never expires between the check and the call.
        self._until = time.monotonic() + max(lifetime - 60, 0)

    def _token_error(self, refused: ProviderError) -> ProviderError:
        if refused.kind in (Kind.REJECTED, Kind.BAD_CREDENTIALS) and (
                refused.code in _BAD_CLIENT or refused.status == 401):
            return ProviderError(
                Kind.BAD_CREDENTIALS,
                f"{self.connector.label} refused the console's client credentials "
                f"({refused.code or refused.status}): check the target's client id and secret "
                "in the environment.", provider=refused.provider, status=refused.status,
                request_id=refused.request_id, code=refused.code)
        return refused


def oauth_error(response: Response) -> tuple[str, str]:
    """(code, description) of an RFC 6749 §5.2 error body, if it is one."""
    body = response.json()
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"], str(body.get("error_description") or "")
    return "", ""
