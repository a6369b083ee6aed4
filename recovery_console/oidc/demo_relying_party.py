"""A relying party in a few dozen lines: a tiny WSGI application that signs
people in through the console's OpenID provider with authlib (authorization
code, PKCE S256, a nonce) and checks the ID token against the published keys
with joserfc (RS256 only; iss, aud, nonce, exp). ``make run`` serves it next
to the console (manage.py demo_relying_party); the browser tests run it in a
thread. Development and tests only: authlib is a development dependency and
the signed-in people live in this process's memory.
"""

from __future__ import annotations

import html
import json
import secrets
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

SCOPE = "openid profile email"
COOKIE = "demo_rp"


class SignInFailed(Exception):
    pass


@dataclass
class Pending:
    state: str
    nonce: str
    code_verifier: str


@dataclass
class RelyingParty:
    issuer: str
    client_id: str
    client_secret: str | None
    redirect_uri: str
    title: str = "Demo application"
    # A transport for the back channel (tests route it through Django's test client).
    adapter: requests.adapters.BaseAdapter | None = None
    sessions: dict[str, dict] = field(default_factory=dict)
    pending: dict[str, Pending] = field(default_factory=dict)

    # --- the protocol ---------------------------------------------------------

    def _http(self, session: requests.Session | None = None) -> requests.Session:
        session = session or requests.Session()
        if self.adapter is not None:
            session.mount(self.issuer.split("/oidc")[0], self.adapter)
        return session

    def metadata(self) -> dict:
        response = self._http().get(f"{self.issuer}/.well-known/openid-configuration",
                                    timeout=10)
        response.raise_for_status()
        return response.json()

    def _client(self, code_verifier: str | None = None) -> OAuth2Session:
        return self._http(OAuth2Session(
            self.client_id, self.client_secret, scope=SCOPE, redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic" if self.client_secret else "none"))

    def start(self) -> tuple[str, Pending]:
        """The authorization request's URL, and what the callback must match."""
        pending = Pending(state=generate_token(32), nonce=generate_token(32),
                          code_verifier=generate_token(64))
        url, _ = self._client().create_authorization_url(
            self.metadata()["authorization_endpoint"], state=pending.state, nonce=pending.nonce,
            code_verifier=pending.code_verifier)
        return url, pending

    def finish(self, callback_url: str, pending: Pending) -> dict:
        """Exchange the code and return the checked ID token's claims."""
        query = parse_qs(callback_url.partition("?")[2])
        if query.get("error"):
            raise SignInFailed(f"The provider refused: {query['error'][0]}")
        if query.get("state", [""])[0] != pending.state:
            raise SignInFailed("The state does not match this browser's sign-in.")
        if query.get("iss", [self.issuer])[0] != self.issuer:
            raise SignInFailed("The response came from another issuer.")
        metadata = self.metadata()
        token = self._client().fetch_token(
            metadata["token_endpoint"], code=query["code"][0], code_verifier=pending.code_verifier,
            redirect_uri=self.redirect_uri)
        return self.verify(token["id_token"], pending.nonce, metadata["jwks_uri"])

    def verify(self, id_token: str, nonce: str, jwks_uri: str) -> dict:
        keys = self._http().get(jwks_uri, timeout=10).json()
        try:
            token = jwt.decode(id_token, KeySet.import_key_set(keys), algorithms=["RS256"])
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.client_id},
                nonce={"essential": True, "value": nonce},
                sub={"essential": True}, exp={"essential": True}, iat={"essential": True},
            ).validate(token.claims)
        except (JoseError, ValueError) as error:
            raise SignInFailed(f"The ID token did not verify: {error}") from error
        return {**token.claims, "kid": token.header.get("kid")}

    # --- the WSGI application ---------------------------------------------------

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "/")
        cookie = SimpleCookie(environ.get("HTTP_COOKIE", ""))
        browser = cookie[COOKIE].value if COOKIE in cookie else None
        if path == "/login":
            try:
                url, pending = self.start()
            except requests.RequestException:
                return self._page(start_response, f"The console does not answer at {self.issuer}.",
                                  status="503 Service Unavailable")
            browser = secrets.token_urlsafe(24)
            self.pending[browser] = pending
            return self._redirect(start_response, url, browser)
        if path == "/callback":
            pending = self.pending.pop(browser or "", None)
            try:
                if pending is None:
                    raise SignInFailed("No sign-in was started in this browser.")
                query = environ.get("QUERY_STRING", "")
                self.sessions[browser] = self.finish(f"{self.redirect_uri}?{query}", pending)
            except (SignInFailed, requests.RequestException) as error:
                return self._page(start_response, str(error), status="400 Bad Request")
            return self._redirect(start_response, "/", browser)
        if path == "/logout":
            self.sessions.pop(browser or "", None)
            return self._redirect(start_response, "/", browser)
        return self._page(start_response, None, claims=self.sessions.get(browser or ""))

    def _redirect(self, start_response, url: str, browser: str | None):
        headers = [("Location", url)]
        if browser:
            headers.append(("Set-Cookie", f"{COOKIE}={browser}; Path=/; HttpOnly; SameSite=Lax"))
        start_response("302 Found", headers)
        return [b""]

    def _page(self, start_response, error: str | None, claims: dict | None = None,
              status: str = "200 OK"):
        if claims:
            shown = {k: v for k, v in claims.items() if k != "kid"}
            body = (f"<h1>Signed in to {html.escape(self.title)}</h1>"
                    f"<p>Welcome, <strong>{html.escape(claims.get('name', ''))}</strong>.</p>"
                    "<p>What the console's ID token says (signed with the key "
                    f"<code>{html.escape(str(claims.get('kid')))}</code>):</p>"
                    f"<pre>{html.escape(json.dumps(shown, indent=2, sort_keys=True))}</pre>"
                    '<p><a href="/logout">Sign out of this application</a></p>')
        else:
            body = (f"<h1>{html.escape(self.title)}</h1>"
                    + (f'<p role="alert">{html.escape(error)}</p>' if error else "")
                    + "<p>This application signs people in through the Recovery Console's "
                      "OpenID provider, with their passkey.</p>"
                      '<p><a href="/login">Sign in with Recovery Console</a></p>')
        page = (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{html.escape(self.title)}</title></head><body>{body}</body></html>")
        start_response(status, [("Content-Type", "text/html; charset=utf-8")])
        return [page.encode()]
