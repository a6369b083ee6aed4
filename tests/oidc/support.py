"""A relying party (authlib) whose back channel goes through Django's test
client, and the applications and people the provider's tests sign in."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests
from django.test import Client
from oauth2_provider.models import get_application_model

from recovery_console.oidc import workflow
from recovery_console.oidc.demo_relying_party import RelyingParty
from recovery_console.oidc.keys import new_private_key
from tests.factories import IdentityFactory, staff
from tests.sessions import passkey_for, sign_in_client

Application = get_application_model()
ISSUER = "http://testserver/oidc"
REDIRECT_URI = "https://app.example.org/callback"
SECRET = "a-client-secret-for-tests-only"


class DjangoClientAdapter(requests.adapters.BaseAdapter):
    """requests' transport answered by Django's test client: the relying party
    sends real HTTP requests (headers, bodies) without a server."""

    def __init__(self):
        super().__init__()
        self.client = Client()

    def send(self, request, **kwargs):
        url = urlsplit(request.url)
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in {"content-length", "content-type", "host"}}
        answer = self.client.generic(
            request.method, f"{url.path}?{url.query}" if url.query else url.path,
            data=request.body or b"", content_type=request.headers.get("Content-Type", ""),
            headers=headers)
        response = requests.Response()
        response.status_code = answer.status_code
        response._content = answer.content
        response.headers.update({k: v for k, v in answer.items()})
        response.url, response.request = request.url, request
        return response

    def close(self):
        pass


@pytest.fixture
def provider_settings(settings):
    """The issuer the test client answers at, and a signing key of the test's own."""
    active = new_private_key()
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_ISS_ENDPOINT": ISSUER,
                                "OIDC_RSA_PRIVATE_KEY": active,
                                "OIDC_RSA_PRIVATE_KEYS_INACTIVE": []}
    return settings


def register(name="Intranet", redirect_uris=REDIRECT_URI, **fields) -> Application:
    application = Application(
        name=name, client_type=Application.CLIENT_CONFIDENTIAL, client_secret=SECRET,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        algorithm=Application.RS256_ALGORITHM, redirect_uris=redirect_uris, **fields)
    return workflow.register_application(application, staff("security_admin"))


@pytest.fixture
def application(db, provider_settings):
    return register()


@pytest.fixture
def relying_party(application):
    return RelyingParty(issuer=ISSUER, client_id=application.client_id, client_secret=SECRET,
                        redirect_uri=REDIRECT_URI, adapter=DjangoClientAdapter())


def person_with_passkey(client):
    """An identity signed in on ``client`` with a passkey."""
    identity = IdentityFactory()
    passkey, _ = passkey_for(identity.user)
    sign_in_client(client, identity.user, device=passkey)
    return identity


def authorize(client, url: str):
    """The browser's part: follow the authorization request on ``client``."""
    parts = urlsplit(url)
    return client.get(f"{parts.path}?{parts.query}")
