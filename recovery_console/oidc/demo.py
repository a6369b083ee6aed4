"""The demo's application (``make run``): registered by the seed, served by
``manage.py demo_relying_party`` next to the console. Its secret is printed
on purpose, like the demo passwords; the seed refuses to run with DEBUG off."""

from __future__ import annotations

from oauth2_provider.models import get_application_model

from accounts.models import User

from . import workflow

Application = get_application_model()
DEMO_CLIENT_ID = "demo-relying-party"
DEMO_CLIENT_SECRET = "demo-relying-party-secret"  # noqa: S105  # nosec B105
DEMO_NAME = "Demo application"


def demo_redirect_uri(port: int) -> str:
    return f"http://localhost:{port}/callback"


def register_demo_application(secadmin: User, port: int) -> Application:
    """The demo application, registered (again) by the demo's security admin."""
    application = Application.objects.filter(client_id=DEMO_CLIENT_ID).first() or Application(
        client_id=DEMO_CLIENT_ID)
    application.name = DEMO_NAME
    application.client_type = Application.CLIENT_CONFIDENTIAL
    application.client_secret = DEMO_CLIENT_SECRET
    application.authorization_grant_type = Application.GRANT_AUTHORIZATION_CODE
    application.algorithm = Application.RS256_ALGORITHM
    application.redirect_uris = demo_redirect_uri(port)
    return workflow.register_application(application, secadmin)
