"""An auditor samples the demo history in a real browser, reviews a case's
whole story, records a finding and exports the report; reads the dashboard
for a range of days, downloads a chart's numbers, and filters a report by
finding, with JavaScript on and off."""

import csv
import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from audit.dashboard import months_between
from audit.models import Finding
from audit.sampling import SampleRequest, draw_sample
from tests.conftest import ARTIFACTS
from tests.factories import current_totp

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def demo_auditor(settings):
    """The demo desk and its eight weeks of history; its auditor."""
    settings.DEBUG = True  # the demo seed refuses to run otherwise
    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_recovery_demo", stdout=io.StringIO())
    settings.DEBUG = False
    from accounts.models import User

    return User.objects.get(username="auditor")


def sign_in(page, auditor):
    assert current_totp(auditor)
    page.goto("/accounts/sign-in/")
    page.get_by_label("Username").fill("auditor")
    page.get_by_label("Password").fill("demo-password-1234")
    page.get_by_label("Authenticator code").fill(current_totp(auditor))
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_role("heading", name="Auditor dashboard").wait_for()  # an auditor's start page


def test_auditor_samples_reviews_records_a_finding_and_exports(page, settings,
                                                               recovery_reference_data):
    auditor = demo_auditor(settings)
    sign_in(page, auditor)

    # The dashboard links its reports too: the navigation's link.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sampling reports").click()
    today = timezone.now().date()
    page.get_by_label("Title").fill("Year review")
    page.get_by_label("From", exact=True).fill((today - timedelta(days=365)).isoformat())
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
    assert page.locator("ol.timeline").count() == 1  # the timeline once, not twice
    timeline = page.locator("ol.timeline").inner_text()
    assert "Case opened" in timeline and today.strftime("%-d %b %Y") not in timeline
    assert "case_opened" not in timeline
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


def figure(page, name: str) -> int:
    return int(page.locator(f".figures dt:text-is('{name}') + dd").inner_text())


def downloaded_rows(download) -> list[list[str]]:
    with open(download.path(), encoding="utf-8") as file:
        return list(csv.reader(file))


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_auditor_reads_a_range_downloads_a_chart_and_filters_a_report_by_finding(
        browser, live_server, settings, recovery_reference_data, javascript):
    auditor = demo_auditor(settings)
    today = timezone.now().date()
    report = draw_sample(auditor, SampleRequest(
        title="Eight weeks", period_start=today - timedelta(days=60), period_end=today,
        sample_size=5, seed=17))
    sampled = list(report.sampled.order_by("position"))
    Finding.objects.create(sampled=sampled[0], auditor=auditor, verdict="issue",
                           note="Manager attestation came from a personal address.")
    Finding.objects.create(sampled=sampled[1], auditor=auditor, verdict="ok")
    context = browser.new_context(base_url=live_server.url, java_script_enabled=javascript,
                                  viewport={"width": 1366, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        sign_in(page, auditor)
        page.get_by_role("link", name="Audit", exact=True).click()
        page.get_by_role("heading", name="Auditor dashboard").wait_for()
        last_twelve_months = figure(page, "Cases opened")
        if javascript:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "auditor-dashboard.png"))
            page.screenshot(path=str(ARTIFACTS / "auditor-dashboard-full.png"), full_page=True)

        page.get_by_label("From", exact=True).fill(today.isoformat())
        page.get_by_label("To (inclusive)").fill((today - timedelta(days=30)).isoformat())
        page.get_by_role("button", name="Show").click()
        page.get_by_text("The range must start on or before the day it ends.").wait_for()
        assert page.locator("svg.chart").count() == 0
        if javascript:
            page.screenshot(path=str(ARTIFACTS / "auditor-dashboard-bad-range.png"))

        start = today - timedelta(days=20)
        page.get_by_label("From", exact=True).fill(start.isoformat())
        page.get_by_label("To (inclusive)").fill(today.isoformat())
        page.get_by_role("button", name="Show").click()
        page.wait_for_url(f"**/audit/?start={start.isoformat()}&end={today.isoformat()}")
        recent = figure(page, "Cases opened")
        assert 0 < recent < last_twelve_months
        assert page.get_by_label("From", exact=True).input_value() == start.isoformat()
        assert page.locator("svg.chart").count() == 3
        if javascript:
            page.screenshot(path=str(ARTIFACTS / "auditor-dashboard-range.png"), full_page=True)

        with page.expect_download() as download:
            page.get_by_role("link", name="Download CSV of recovery cases opened per month").click()
        assert download.value.suggested_filename == \
            f"months-{start.isoformat()}-to-{today.isoformat()}.csv"
        rows = downloaded_rows(download.value)
        assert rows[0] == ["Month", "Cases opened"]
        assert [row[0] for row in rows[1:]] == [
            m.strftime("%Y-%m") for m in months_between(start, today)]
        assert sum(int(row[1]) for row in rows[1:]) == recent

        page.get_by_role("link", name="Sampling reports").first.click()
        page.get_by_role("link", name="Eight weeks").click()
        page.get_by_role("heading", name="Eight weeks").wait_for()
        assert page.get_by_label("2 of 5 sampled cases reviewed").is_visible()
        page.get_by_label("Finding").select_option("issue")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url("**?finding=issue")
        assert page.locator("main table tbody tr").count() == 1
        if javascript:
            page.screenshot(path=str(ARTIFACTS / "auditor-report-filtered.png"), full_page=True)
        page.get_by_role("link", name=f"Issue on case {sampled[0].case_id}").click()
        page.get_by_role("heading", name=f"Case {sampled[0].case_id}:").wait_for()
    finally:
        context.close()
