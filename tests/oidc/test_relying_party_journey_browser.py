"""A relying party (authlib, in a thread of the test) signs a person in
through the console with a virtual passkey; the person loses the passkey,
the service desk recovers their access, they enrol a new one and sign in to
the application again with it, while the old passkey is refused. Screenshots
under var/test-artifacts/oidc/."""

import threading
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from oauth2_provider.models import get_application_model

from recovery_console.models import RecoveryCase
from recovery_console.oidc import workflow
from recovery_console.oidc.demo_relying_party import RelyingParty
from tests.conftest import VirtualAuthenticator
from tests.factories import recovery_case, staff
from tests.recovery.test_journeys_browser import (
    claim_and_check_email_code,
    redeem_and_enrol,
    sign_in,
)
from tests.sessions import passkey_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("recovery_reference_data")]

SHOTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "oidc"
Application = get_application_model()
SECRET = "journey-client-secret"


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def relying_party(live_server, settings):
    """The application, served on a free port of localhost until the test ends."""
    issuer = f"{live_server.url}/oidc"
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_ISS_ENDPOINT": issuer}
    server = make_server("localhost", 0, lambda e, s: app(e, s), handler_class=Quiet)
    redirect_uri = f"http://localhost:{server.server_port}/callback"
    application = workflow.register_application(Application(
        name="Team wiki", client_type=Application.CLIENT_CONFIDENTIAL, client_secret=SECRET,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        algorithm=Application.RS256_ALGORITHM, redirect_uris=redirect_uri),
        staff("security_admin"))
    app = RelyingParty(issuer=issuer, client_id=application.client_id, client_secret=SECRET,
                       redirect_uri=redirect_uri, title="Team wiki")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.url = f"http://localhost:{server.server_port}/"
    yield app
    server.shutdown()
    server.server_close()


def sign_in_to_the_wiki(page, relying_party):
    page.goto(relying_party.url)
    page.get_by_role("link", name="Sign in with Recovery Console").click()
    page.get_by_role("heading", name="Sign in to your account").wait_for()
    page.get_by_role("button", name="Sign in with a passkey").click()


def test_a_person_signs_in_to_an_application_loses_the_passkey_recovers_and_signs_in_again(
        page, new_page, relying_party, dev_outbox):
    case = recovery_case("low")
    person = case.identity
    old, old_soft = passkey_for(person.user)
    authenticator = VirtualAuthenticator(page)
    authenticator.add_existing(old_soft)

    sign_in_to_the_wiki(page, relying_party)
    page.get_by_role("heading", name="Signed in to Team wiki").wait_for()
    shot(page, "1-signed-in-to-the-application")
    (first,) = relying_party.sessions.values()
    assert first["amr"] == ["hwk", "pop"] and first["name"] == person.display_name

    # The phone is lost: its passkey is gone, and so are this browser's sessions.
    authenticator.remove_all()
    page.context.clear_cookies()

    agent = new_page()
    sign_in(agent, staff("agent"))
    email = claim_and_check_email_code(agent, case)
    agent.get_by_label("Deliver to").select_option(label=str(email))
    agent.get_by_role("button", name="Issue credential").click()
    agent.get_by_role("heading", name="Recovery credential issued").wait_for()

    redeem_and_enrol(page, case)
    case.refresh_from_db()
    assert case.state == RecoveryCase.State.COMPLETED
    assert len(authenticator.credentials()) == 1  # the new passkey only

    sign_in_to_the_wiki(page, relying_party)
    page.get_by_role("heading", name="Signed in to Team wiki").wait_for()
    shot(page, "2-signed-in-again-with-the-new-passkey")
    again = [claims for claims in relying_party.sessions.values() if claims is not first]
    assert len(again) == 1 and again[0]["sub"] == first["sub"]
    assert again[0]["amr"] == ["hwk", "pop"]

    thief = new_page()
    VirtualAuthenticator(thief).add_existing(old_soft)
    sign_in_to_the_wiki(thief, relying_party)
    thief.get_by_text("not registered here, or was revoked").wait_for()
    shot(thief, "3-the-old-passkey-is-refused")
    assert len(relying_party.sessions) == 2
    old.refresh_from_db()
    assert old.revoked_at is not None
