"""/metrics: Prometheus text for a scraper holding the token, nothing for anyone else."""

import re

import pytest
from celery import shared_task

from audit.tasks import verify_audit_chain
from recovery_console.models import Notice
from tests.factories import recovery_case, staff
from tests.recovery.support import verify

pytestmark = pytest.mark.django_db
TOKEN = "scrape-me-0123456789"
SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_]+="[^"]*"(,[a-zA-Z_]+="[^"]*")*\})? '
                    r"(-?[0-9.e+-]+|NaN)$")


@shared_task(name="tests.ops.explode")
def explode():
    raise RuntimeError("boom")


@pytest.fixture
def scrape(client, settings):
    settings.METRICS_TOKEN = TOKEN

    def scrape() -> dict[str, float]:
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 200
        assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        samples = {}
        for line in response.content.decode().splitlines():
            if line.startswith("#"):
                assert re.match(r"^# (HELP|TYPE) [a-z_]+ .+$", line), line
                continue
            assert SAMPLE.match(line), line
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
        return samples

    return scrape


def test_metrics_are_not_served_without_a_configured_token(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


def test_metrics_need_the_bearer_token(client, settings):
    settings.METRICS_TOKEN = TOKEN
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token")
    assert wrong.status_code == 401 and wrong["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 401


def test_metrics_count_cases_by_state_and_the_queue_by_tier(scrape):
    agent = staff("agent")
    recovery_case("low")
    recovery_case("high", agent=agent)
    verify(recovery_case("medium", agent=agent), agent)
    samples = scrape()
    assert samples['recovery_queue_depth{tier="low"}'] == 1
    assert samples['recovery_queue_depth{tier="high"}'] == 1
    assert samples['recovery_queue_depth{tier="restricted"}'] == 0
    assert samples['recovery_queue_unclaimed{tier="low"}'] == 1
    assert samples['recovery_queue_unclaimed{tier="high"}'] == 0
    assert samples['recovery_cases{state="new"}'] == 1
    assert samples['recovery_cases{state="verifying"}'] == 1
    assert samples['recovery_cases{state="approved"}'] == 1  # medium: no supervisor needed
    assert samples['recovery_cases{state="completed"}'] == 0
    assert samples["recovery_time_to_verify_seconds_count"] == 1
    assert samples['recovery_time_to_verify_seconds{quantile="0.5"}'] >= 0


def test_metrics_count_notices_pending_and_failed(scrape):
    agent = staff("agent")
    recovery_case("low", agent=agent)
    pending = Notice.objects.filter(sent_at=None, failed_at=None).count()
    assert pending > 0
    Notice.objects.filter(pk=Notice.objects.first().pk).update(
        failed_at=Notice.objects.first().created_at)
    samples = scrape()
    assert samples["recovery_notices_pending"] == pending - 1
    assert samples["recovery_notices_failed"] == 1
    assert samples["recovery_notices_oldest_pending_age_seconds"] >= 0


def test_metrics_count_open_alerts_by_kind(scrape):
    from recovery_console.alerts import raise_alert
    from recovery_console.models import Alert

    case = recovery_case("low")
    raise_alert(case.identity, Alert.Kind.SECOND_RECOVERY, "test")
    acknowledged = raise_alert(case.identity, Alert.Kind.CHANNEL_CHANGE, "test")
    Alert.objects.filter(pk=acknowledged.pk).update(acknowledged_at=acknowledged.created_at)
    samples = scrape()
    assert samples['recovery_alerts_open{kind="second_recovery"}'] == 1
    assert samples['recovery_alerts_open{kind="channel_change"}'] == 0


def test_metrics_report_the_audit_chain_verdict_once_verified(scrape):
    assert "recovery_audit_chain_intact" not in scrape()  # unknown until the first run
    verify_audit_chain.apply()
    samples = scrape()
    assert samples["recovery_audit_chain_intact"] == 1
    assert samples["recovery_audit_chain_last_verified_timestamp_seconds"] > 0


def test_metrics_count_celery_task_failures_by_task(scrape):
    explode.apply()
    explode.apply()
    assert scrape()['recovery_celery_task_failures_total{task="tests.ops.explode"}'] == 2


def test_empty_summaries_are_nan_not_zero(scrape):
    samples = scrape()
    assert samples["recovery_time_to_verify_seconds_count"] == 0
    assert str(samples['recovery_time_to_verify_seconds{quantile="0.9"}']) == "nan"


def test_a_scrape_costs_a_fixed_number_of_queries(scrape, django_assert_max_num_queries):
    """One query per family of figures, whatever the number of cases."""
    agent = staff("agent")
    for tier in ("low", "medium", "high"):
        verify(recovery_case(tier, agent=agent), agent)
    with django_assert_max_num_queries(5):
        scrape()
