"""Health and readiness probes: machine-readable, no sign-in, 503 when a
dependency the console needs is missing."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from recovery_console.tasks import BEAT_HEARTBEAT_KEY, record_beat_heartbeat

pytestmark = pytest.mark.django_db
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def test_healthz_answers_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"].startswith("max-age=0")


def test_readyz_is_green_with_every_dependency_and_a_fresh_heartbeat(client):
    record_beat_heartbeat()
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "migrations", "cache", "broker", "beat"}
    assert all(check["ok"] for check in body["checks"].values())


def test_readyz_is_red_when_beat_never_sent_a_heartbeat(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["beat"] == {"ok": False, "ms": body["checks"]["beat"]["ms"],
                                      "detail": "no heartbeat recorded"}
    assert body["checks"]["database"]["ok"] and body["checks"]["broker"]["ok"]


def test_readyz_is_red_when_the_heartbeat_is_stale(client, settings):
    settings.BEAT_HEARTBEAT_MAX_AGE_SECONDS = 180
    cache.set(BEAT_HEARTBEAT_KEY, (timezone.now() - timedelta(minutes=4)).isoformat())
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "limit 180s" in response.json()["checks"]["beat"]["detail"]


def test_readyz_is_red_when_redis_is_unreachable_and_says_which_parts(client, settings):
    settings.CELERY_BROKER_URL = UNREACHABLE_REDIS
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": UNREACHABLE_REDIS,
                                   "OPTIONS": {"socket_connect_timeout": 1}}}
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"]["ok"] and checks["migrations"]["ok"]
    assert not checks["cache"]["ok"] and not checks["broker"]["ok"] and not checks["beat"]["ok"]
    assert checks["broker"]["detail"] == "OperationalError"
    assert "127.0.0.1" not in response.content.decode()  # no addresses for anonymous callers


def test_probes_need_no_sign_in_and_refuse_writes(client):
    assert client.get("/readyz").status_code in (200, 503)  # never a redirect to sign in
    assert client.post("/healthz").status_code == 405
    assert client.post("/readyz").status_code == 405
