import os
import shutil

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


@pytest.fixture
def page(browser, live_server, settings):
    settings.WEBAUTHN_ORIGINS = [live_server.url]
    settings.SITE_URL = live_server.url
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def pytest_report_header(config):
    db = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    return [f"database: {db}; cache: {settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]}; "
            f"broker: {settings.CELERY_BROKER_URL.split(':', 1)[0]}; chromium: {CHROMIUM}"]
