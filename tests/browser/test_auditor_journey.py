"""An auditor samples the demo history in a real browser, reviews a case's
whole story, records a finding and exports the report."""

import csv
import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from audit.models import Finding
from tests.conftest import ARTIFACTS
from tests.factories import current_totp

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_auditor_samples_reviews_records_a_finding_and_exports(page, settings,
                                                               recovery_reference_data):
    settings.DEBUG = True  # the demo seed refuses to run otherwise
    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_recovery_demo", stdout=io.StringIO())
    settings.DEBUG = False
    from accounts.models import User

    auditor = User.objects.get(username="auditor")
    assert current_totp(auditor)
    page.goto("/accounts/sign-in/")
    page.get_by_label("Username").fill("auditor")
    page.get_by_label("Password").fill("demo-password-1234")
    page.get_by_label("Authenticator code").fill(current_totp(auditor))
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_role("heading", name="Auditor dashboard").wait_for()  # an auditor's start page

    # The dashboard links its reports too: the navigation's link.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sampling reports").click()
    today = timezone.now().date()
    page.get_by_label("Title").fill("Year review")
    page.get_by_label("From").fill((today - timedelta(days=365)).isoformat())
    page.get_by_label("To (inclusive)").fill(today.isoformat())
    page.get_by_label("Sample size").fill("6")
    page.get_by_label("Risk tier").check()
    page.get_by_label("Outcome").check()
    page.get_by_role("button", name="Draw sample").click()
    page.get_by_role("heading", name="Year review").wait_for()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "auditor-report.png"), full_page=True)

    page.get_by_role("link", name="Case ").first.click()
    for section in ("Verification steps and evidence", "Approvals", "Recovery credentials",
                    "Notices owed", "Timeline from the audit trail"):
        page.get_by_role("heading", name=section).wait_for()
    page.screenshot(path=str(ARTIFACTS / "auditor-sampled-case.png"), full_page=True)
    timeline = page.locator("ol.timeline").last.inner_text()
    assert "case_opened" in timeline and today.strftime("%-d %b %Y") not in timeline
    page.get_by_label("Issue").check()
    page.get_by_label("Note").fill("Callback not documented.")
    page.get_by_role("button", name="Record finding").click()
    page.get_by_text("Finding recorded").wait_for()
    assert Finding.objects.get().note == "Callback not documented."

    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    rows = list(csv.reader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    assert len(rows) == 7
    assert any(row[9] == "Callback not documented." for row in rows[1:])

    page.get_by_role("link", name="Audit", exact=True).click()
    page.get_by_role("heading", name="Auditor dashboard").wait_for()
    assert page.locator("svg.chart").count() == 3
    page.screenshot(path=str(ARTIFACTS / "auditor-dashboard.png"), full_page=True)
