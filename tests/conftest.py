import os
import shutil
from importlib import import_module
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection

IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = next(
    (p for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium") if shutil.which(p)), None
)

# Playwright's sync API runs an event loop in the test thread; the ORM calls
# the tests make around it are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_configure(config):
    if IN_CI and not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise pytest.UsageError("CI must run on PostgreSQL: set DATABASE_URL")
    if IN_CI and not os.environ.get("REDIS_URL"):
        raise pytest.UsageError("CI must run with Redis: set REDIS_URL")


@pytest.fixture(autouse=True)
def _clean_cache():
    """Throttle counters and heartbeats live in the cache (a Redis database
    of its own in CI): start every test from empty."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def on_postgres(db):
    if connection.vendor != "postgresql":
        if IN_CI:
            pytest.fail("this test needs PostgreSQL")
        pytest.skip("needs PostgreSQL (set DATABASE_URL)")


@pytest.fixture(scope="session")
def browser():
    if CHROMIUM is None:
        if IN_CI:
            pytest.fail("Chromium is missing: apt-get install -y chromium")
        pytest.skip("Chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--disable-quic"],
        )
        yield browser
        browser.close()


ARTIFACTS = Path(__file__).resolve().parent.parent / "var" / "test-artifacts"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(browser, live_server, settings, request):
    settings.WEBAUTHN_ORIGINS = [live_server.url]
    settings.SITE_URL = live_server.url
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = request.node.name[:80]
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        (ARTIFACTS / f"{name}.html").write_text(page.content())
    context.close()


def pytest_report_header(config):
    db = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    return [f"database: {db}; cache: {settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]}; "
            f"broker: {settings.CELERY_BROKER_URL.split(':', 1)[0]}; chromium: {CHROMIUM}"]


class VirtualAuthenticator:
    """Chromium's CDP virtual authenticator: a platform passkey that verifies
    the user (as if by fingerprint) without anyone touching anything."""

    def __init__(self, page):
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("WebAuthn.enable")
        self.id = self.cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
            "hasUserVerification": True, "isUserVerified": True,
            "automaticPresenceSimulation": True,
        }})["authenticatorId"]

    def credentials(self) -> list[dict]:
        return self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.id})["credentials"]

    def add_existing(self, soft, rp_id: str = "localhost") -> None:
        """Load a passkey a test already put on file (tests.sessions.passkey_for)."""
        import base64

        from cryptography.hazmat.primitives import serialization

        pkcs8 = soft.key.private_bytes(serialization.Encoding.DER,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())
        self.cdp.send("WebAuthn.addCredential", {"authenticatorId": self.id, "credential": {
            "credentialId": base64.b64encode(soft.credential_id).decode(),
            "isResidentCredential": True, "rpId": rp_id,
            "privateKey": base64.b64encode(pkcs8).decode(),
            "userHandle": base64.b64encode(soft.user_handle).decode(),
            "signCount": soft.sign_count,
        }})

    def remove_all(self) -> None:
        self.cdp.send("WebAuthn.clearCredentials", {"authenticatorId": self.id})


@pytest.fixture
def dev_outbox(settings):
    """Show every notice on /outbox/, the demo's phone and mailbox."""
    settings.DEV_OUTBOX_ENABLED = True


@pytest.fixture
def new_page(browser, live_server):
    """Another person's browser (own cookies, own authenticator)."""
    contexts = []

    def open_one():
        context = browser.new_context(base_url=live_server.url)
        contexts.append(context)
        result = context.new_page()
        result.set_default_timeout(10_000)
        return result

    yield open_one
    for context in contexts:
        context.close()


@pytest.fixture
def authenticator(page):
    return VirtualAuthenticator(page)


def session_of(page):
    """The server-side session of the browser's current sign-in."""
    from importlib import import_module

    cookie = next(c for c in page.context.cookies() if c["name"] == settings.SESSION_COOKIE_NAME)
    return import_module(settings.SESSION_ENGINE).SessionStore(session_key=cookie["value"])


@pytest.fixture
def agent():
    """A staff member with the agent role (not signed in)."""
    from tests.factories import staff

    return staff("agent")


@pytest.fixture
def recovery_reference_data():
    """Transactional tests flush the database after each test (and other
    transactional tests may have run before): put back what migrations
    seed, whatever ran first."""
    from django.apps import apps
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Group
    from django.contrib.contenttypes.management import create_contenttypes

    from accounts.roles import Role

    for name in ("accounts", "recovery"):
        create_contenttypes(apps.get_app_config(name), verbosity=0)
        create_permissions(apps.get_app_config(name), verbosity=0)
    for role in Role:
        Group.objects.get_or_create(name=role)
    import_module("recovery_console.migrations.0003_default_policies").seed(apps, None)
    import_module("recovery_console.migrations.0007_default_population_rules").seed(apps, None)
