"""/metrics: Prometheus text for a scraper holding the token, nothing for anyone else.

Every scrape is parsed with prometheus_client's own parser. The counters and
histograms a process observes live as long as the process (the test run), so
tests about them compare a scrape before with a scrape after."""

import pytest
from celery import shared_task
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from audit.tasks import verify_audit_chain
from recovery_console.models import Notice
from recovery_console.tasks import dispatch_due_notices, record_beat_heartbeat
from tests.factories import recovery_case, staff
from tests.recovery.support import verify

pytestmark = pytest.mark.django_db
TOKEN = "scrape-me-0123456789"


@shared_task(name="tests.ops.explode")
def explode():
    raise RuntimeError("boom")


class Scrape:
    """One scrape, parsed: ``scrape["name", label=value]`` is a sample's value
    (0 for a sample that is absent), ``name in scrape`` a family's presence."""

    def __init__(self, text: str):
        self.text = text
        self.families = {f.name: f for f in text_string_to_metric_families(text)}
        self.samples = {(s.name, frozenset(s.labels.items())): s.value
                        for f in self.families.values() for s in f.samples}

    def __getitem__(self, key) -> float:
        name, labels = (key, {}) if isinstance(key, str) else (key[0], key[1])
        return self.samples.get((name, frozenset(labels.items())), 0)

    def has(self, name: str, **labels) -> bool:
        return (name, frozenset(labels.items())) in self.samples


@pytest.fixture
def scrape(client, settings):
    settings.METRICS_TOKEN = TOKEN

    def scrape() -> Scrape:
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 200
        assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        return Scrape(response.content.decode())

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
    assert "recovery_cases" not in wrong.content.decode()


def test_metrics_refuse_anything_but_get(client, settings):
    settings.METRICS_TOKEN = TOKEN
    response = client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 405


def test_a_scraper_asking_for_openmetrics_gets_it(client, settings):
    settings.METRICS_TOKEN = TOKEN
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}",
                          HTTP_ACCEPT="application/openmetrics-text; version=1.0.0")
    assert response["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    families = {f.name: f for f in openmetrics_families(response.content.decode())}
    assert families["recovery_celery_task_failures"].type == "counter"
    assert families["recovery_queue_depth"].type == "gauge"


def test_an_accept_header_the_client_does_not_know_gets_the_plain_text_format(scrape, client):
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}",
                          HTTP_ACCEPT="application/x-nonsense; version=9")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"


def test_metrics_count_cases_by_state_and_the_queue_by_tier(scrape):
    agent = staff("agent")
    recovery_case("low")
    recovery_case("high", agent=agent)
    verify(recovery_case("medium", agent=agent), agent)
    samples = scrape()
    assert samples["recovery_queue_depth", {"tier": "low"}] == 1
    assert samples["recovery_queue_depth", {"tier": "high"}] == 1
    assert samples.has("recovery_queue_depth", tier="restricted")
    assert samples["recovery_queue_depth", {"tier": "restricted"}] == 0
    assert samples["recovery_queue_unclaimed", {"tier": "low"}] == 1
    assert samples["recovery_queue_unclaimed", {"tier": "high"}] == 0
    assert samples["recovery_cases", {"state": "new"}] == 1
    assert samples["recovery_cases", {"state": "verifying"}] == 1
    assert samples["recovery_cases", {"state": "approved"}] == 1  # medium: no supervisor needed
    assert samples.has("recovery_cases", state="completed")
    assert samples["recovery_cases", {"state": "completed"}] == 0
    assert samples.families["recovery_cases"].type == "gauge"


def test_time_to_verify_is_a_histogram_of_the_cases_verified_in_the_window(scrape, settings):
    from datetime import timedelta

    from django.utils import timezone

    from recovery_console.models import RecoveryCase

    agent = staff("agent")
    quick, slow, old = (recovery_case("low", agent=agent) for _ in range(3))
    now = timezone.now()
    for case, opened, verified in ((quick, now - timedelta(seconds=30), now),
                                   (slow, now - timedelta(hours=2), now),
                                   (old, now - timedelta(days=30), now - timedelta(days=20))):
        RecoveryCase.objects.filter(pk=case.pk).update(opened_at=opened, verified_at=verified)
    samples = scrape()
    name = "recovery_time_to_verify_seconds"
    assert samples.families[name].type == "histogram"
    assert samples[f"{name}_count"] == 2  # the 20-day-old one is outside the 7-day window
    assert samples[f"{name}_sum"] == pytest.approx(30 + 7200, abs=1)
    assert samples[f"{name}_bucket", {"le": "60.0"}] == 1
    assert samples[f"{name}_bucket", {"le": "3600.0"}] == 1
    assert samples[f"{name}_bucket", {"le": "14400.0"}] == 2
    assert samples[f"{name}_bucket", {"le": "+Inf"}] == 2


def test_an_empty_window_gives_an_empty_histogram_not_an_error(scrape):
    samples = scrape()
    assert samples["recovery_time_to_verify_seconds_count"] == 0
    assert samples.has("recovery_time_to_verify_seconds_sum")
    assert samples["recovery_time_to_verify_seconds_bucket", {"le": "+Inf"}] == 0


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


def test_the_outbox_depth_due_and_age_by_medium(scrape):
    from datetime import timedelta

    from django.utils import timezone

    agent = staff("agent")
    recovery_case("low", agent=agent)
    owed = Notice.objects.filter(sent_at=None, failed_at=None)
    by_medium = {m: owed.filter(medium=m).count() for m in Notice.Medium.values}
    waiting = owed.first()
    Notice.objects.filter(pk=waiting.pk).update(  # a retry waiting for its backoff
        next_attempt_at=timezone.now() + timedelta(minutes=5),
        created_at=timezone.now() - timedelta(hours=1))
    samples = scrape()
    for medium, count in by_medium.items():
        assert samples["recovery_outbox_depth", {"medium": medium}] == count
        due = count - (1 if medium == waiting.medium else 0)
        assert samples["recovery_outbox_due", {"medium": medium}] == due
    assert sum(by_medium.values()) == samples["recovery_notices_pending"]
    assert samples["recovery_outbox_oldest_age_seconds", {"medium": waiting.medium}] \
        == pytest.approx(3600, abs=60)
    assert samples["recovery_notices_oldest_pending_age_seconds"] == pytest.approx(3600, abs=60)


def test_metrics_count_open_alerts_by_kind(scrape):
    from recovery_console.alerts import raise_alert
    from recovery_console.models import Alert

    case = recovery_case("low")
    raise_alert(case.identity, Alert.Kind.SECOND_RECOVERY, "test")
    acknowledged = raise_alert(case.identity, Alert.Kind.CHANNEL_CHANGE, "test")
    Alert.objects.filter(pk=acknowledged.pk).update(acknowledged_at=acknowledged.created_at)
    samples = scrape()
    assert samples["recovery_alerts_open", {"kind": "second_recovery"}] == 1
    assert samples["recovery_alerts_open", {"kind": "channel_change"}] == 0


def test_metrics_report_the_audit_chain_verdict_once_verified(scrape):
    first = scrape()
    assert "recovery_audit_chain_intact" in first.families  # declared ...
    assert not first.has("recovery_audit_chain_intact")  # ... but unknown until the first run
    verify_audit_chain.apply()
    samples = scrape()
    assert samples["recovery_audit_chain_intact"] == 1
    assert samples["recovery_audit_chain_last_verified_timestamp_seconds"] > 0


def test_the_beat_heartbeat_age_appears_once_beat_has_beaten(scrape):
    assert not scrape().has("recovery_beat_heartbeat_age_seconds")
    record_beat_heartbeat.apply()
    assert 0 <= scrape()["recovery_beat_heartbeat_age_seconds"] < 60


def test_metrics_count_celery_task_failures_by_task(scrape):
    task = {"task": "tests.ops.explode"}
    before = scrape()
    explode.apply()
    explode.apply()
    after = scrape()
    assert after["recovery_celery_task_failures_total", task] \
        - before["recovery_celery_task_failures_total", task] == 2
    assert after["recovery_celery_task_duration_seconds_count", task] \
        - before["recovery_celery_task_duration_seconds_count", task] == 2


def test_a_sweep_on_beats_schedule_has_its_duration_observed(scrape):
    sweep = {"sweep": "recovery_console.tasks.dispatch_due_notices"}
    before = scrape()
    dispatch_due_notices.apply()
    after = scrape()
    assert after["recovery_sweep_duration_seconds_count", sweep] \
        - before["recovery_sweep_duration_seconds_count", sweep] == 1
    assert not after.has("recovery_sweep_duration_seconds_count",
                         sweep="tests.ops.explode")  # not on the schedule: not a sweep


def test_requests_are_timed_by_view_name_never_by_path(scrape, client):
    healthz = {"view": "healthz", "method": "GET", "status": "2xx"}
    unresolved = {"view": "unresolved", "method": "GET", "status": "4xx"}
    before = scrape()
    for _ in range(3):
        client.get("/healthz")
    client.get("/no-such-page/secret-looking-token-0123")
    client.generic("BREW", "/healthz")
    after = scrape()
    name = "recovery_http_request_duration_seconds_count"
    assert after[name, healthz] - before[name, healthz] == 3
    assert after[name, unresolved] - before[name, unresolved] == 1
    assert after[name, {"view": "healthz", "method": "other", "status": "4xx"}] \
        - before[name, {"view": "healthz", "method": "other", "status": "4xx"}] == 1
    assert "secret-looking-token" not in after.text and "BREW" not in after.text
    assert after.families["recovery_http_request_duration_seconds"].type == "histogram"


def test_a_scrape_costs_a_fixed_number_of_queries(scrape, django_assert_num_queries):
    """Four aggregate queries (cases, time to verify, outbox, alerts), whatever
    the number of cases."""
    with django_assert_num_queries(4):
        scrape()
    agent = staff("agent")
    for tier in ("low", "medium", "high"):
        verify(recovery_case(tier, agent=agent), agent)
    with django_assert_num_queries(4):
        scrape()
