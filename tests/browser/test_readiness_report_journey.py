"""An auditor follows the dashboard's panel of active waves to the passkey
readiness report, chooses a cohort, reads the charts beside their tables and
downloads one chart's numbers, in a real browser."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import PasskeyCredential
from recovery_console.models import RecoveryCase
from recovery_console.rollout.models import Cohort, ReadinessSnapshot, RolloutPlan, Wave
from tests.conftest import ARTIFACTS
from tests.factories import (
    PASSWORD,
    IdentityFactory,
    RecoveryChannelFactory,
    current_totp,
    recovery_case,
    staff,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def organisation():
    """Forty people in Finance and Sales, some ready, some not; a Sales wave
    inviting, with recovery cases this week; eight weeks of snapshots."""
    now = timezone.now()
    for n in range(40):
        person = IdentityFactory(display_name=f"Person {n:02d}", privileged=n % 9 == 0,
                                 department="Finance" if n % 2 else "Sales")
        if n % 3:
            PasskeyCredential.objects.create(
                user=person.user, name="Laptop", credential_id=f"cred-{n}", public_key=b"k",
                last_used_at=now - timedelta(days=n * 3) if n % 5 else None)
        if n % 4:
            RecoveryChannelFactory(identity=person)
    finance = Cohort.objects.create(name="Finance", department="Finance")
    sales = Cohort.objects.create(name="Sales", department="Sales")
    plan = RolloutPlan.objects.create(name="Passkeys for everyone", daily_case_limit=2)
    Wave.objects.create(plan=plan, cohort=sales, position=1, stage=Wave.Stage.INVITE)
    for days_ago, tier in ((0, "high"), (0, "low"), (0, "low"), (2, "low")):
        case = recovery_case(tier, department="Sales")
        RecoveryCase.objects.filter(pk=case.pk).update(
            opened_at=now - timedelta(days=days_ago, minutes=5), state="completed")
    for week in range(8):
        day = now.date() - timedelta(weeks=week, days=1)
        for cohort, members in ((None, 40), (finance, 20)):
            ready = members * (8 - week) // 12
            ReadinessSnapshot.objects.create(
                day=day, cohort=cohort, members=members, with_passkey=ready + 4,
                with_channel=ready + 6, ready=ready, with_nothing=max(members - ready - 8, 0),
                privileged=5, privileged_ready=min(ready, 2))
    return finance


def test_auditor_reads_the_readiness_report_of_a_cohort(page, recovery_reference_data):
    finance = organisation()
    auditor = staff("auditor", username="auditor-ann")
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto("/accounts/sign-in/")
    page.get_by_label("Username").fill("auditor-ann")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Authenticator code").fill(current_totp(auditor))
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_role("heading", name="Auditor dashboard").wait_for()

    panel = page.get_by_role("region", name="Passkey rollout: active waves")
    panel.get_by_role("cell", name="3 (2), over").wait_for()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    panel.screenshot(path=str(ARTIFACTS / "audit-active-waves.png"))
    panel.get_by_role("link", name="Passkey readiness reports").click()

    page.get_by_role("heading", name="Passkey readiness", exact=True).wait_for()
    page.get_by_label("Population").select_option(label="Finance")
    page.get_by_role("button", name="Show").click()
    page.get_by_text("Finance: 20 members today.").wait_for()
    assert page.url.endswith(f"?cohort={finance.pk}")
    privileged = page.get_by_role("region", name="Privileged people not ready")
    assert privileged.get_by_role("row").count() >= 2
    chart = page.get_by_role("img", name="Members ready, week by week")
    assert chart.is_visible()
    # Text on the charts is body-sized: never scaled down.
    size = chart.locator("text").first.evaluate("t => getComputedStyle(t).fontSize")
    assert size == "16px"
    page.screenshot(path=str(ARTIFACTS / "rollout-readiness.png"), full_page=True)
    page.screenshot(path=str(ARTIFACTS / "rollout-readiness-top.png"))
    chart.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "rollout-readiness-trend.png"))

    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV of members ready, week by week").click()
    rows = list(csv.reader(io.StringIO(open(download.value.path()).read())))
    assert rows[0] == ["Week of", "Snapshot", "Members", "Ready", "Share (%)"]
    assert len(rows) == 13 and any(row[2] == "20" for row in rows[1:])
    assert download.value.suggested_filename.startswith("ready_trend-finance-")
