"""HTTP checks for scripts/smoke_production.sh, against a running production stack.

    python scripts/smoke_client.py BASE_URL wait-ready [SECONDS]
    python scripts/smoke_client.py BASE_URL wait-unready [SECONDS]
    python scripts/smoke_client.py BASE_URL journey USERNAME TOTP_CODE
    python scripts/smoke_client.py BASE_URL metrics PROMETHEUS_MULTIPROC_DIR

Talks to gunicorn as a TLS-terminating proxy would (X-Forwarded-Proto: https),
keeping cookies by hand: the production cookies are Secure and __Host-.
The standard library, and prometheus_client to read what /metrics says;
exits non-zero with a reason on the first failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

DEMO_PASSWORD = "demo-password-1234"  # noqa: S105 - seed_demo's published demo password


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


class Browser:
    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.cookies: dict[str, str] = {}

    def request(self, path: str, data: dict | None = None, *, https: bool = True,
                headers: dict | None = None) -> tuple[int, dict, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(self.base + path, data=body,  # noqa: S310 - http(s) only
                                         headers=headers or {})
        host = urllib.parse.urlsplit(self.base).netloc
        if https:
            request.add_header("X-Forwarded-Proto", "https")
            request.add_header("Origin", f"https://{host}")
            request.add_header("Referer", f"https://{host}{path}")
        if self.cookies:
            request.add_header("Cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        try:
            response = OPENER.open(request, timeout=10)
        except urllib.error.HTTPError as error:
            response = error
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, dict(response.headers), response.read().decode()


def fail(message: str) -> None:
    print(f"smoke: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def poll_readiness(browser: Browser, want: int, seconds: float) -> dict:
    deadline, answer = time.monotonic() + seconds, {}
    while time.monotonic() < deadline:
        try:
            status, _, body = browser.request("/readyz", https=False)
            answer = json.loads(body)
            if status == want:
                return answer
        except (OSError, ValueError) as error:  # not listening yet
            answer = {"error": str(error)}
        time.sleep(1)
    fail(f"/readyz did not answer {want} within {seconds:.0f}s; last answer: {answer}")
    return answer


def journey(browser: Browser, username: str, totp: str) -> None:
    status, _, body = browser.request("/healthz", https=False)
    if status != 200 or json.loads(body) != {"status": "ok"}:
        fail(f"/healthz answered {status} {body}")
    status, headers, _ = browser.request("/accounts/sign-in/", https=False)
    if status != 301 or not headers.get("Location", "").startswith("https://"):
        fail(f"plain HTTP was not redirected to HTTPS ({status})")

    status, headers, page = browser.request("/accounts/sign-in/")
    if status != 200:
        fail(f"sign-in page answered {status}")
    if not headers.get("X-Request-ID"):
        fail("no X-Request-ID on the response")
    stylesheet = re.search(r'href="(/static/[^"]+\.css)"', page)
    if stylesheet is None or browser.request(stylesheet.group(1))[0] != 200:
        fail("WhiteNoise did not serve the stylesheet of the sign-in page")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    if token is None:
        fail("no CSRF token on the sign-in page")
    status, headers, page = browser.request("/accounts/sign-in/", {
        "csrfmiddlewaretoken": token.group(1), "username": username,
        "password": DEMO_PASSWORD, "otp_token": totp})
    if status != 302:
        fail(f"signing in answered {status}: {re.sub(r'<[^>]+>', ' ', page)[:300]}")
    status, _, page = browser.request("/queue/")
    if status != 200 or "queue" not in page.lower():
        fail(f"the queue page answered {status}")
    print(f"smoke: signed in as {username} and loaded the queue")

    token = os.environ.get("METRICS_TOKEN", "")
    if browser.request("/metrics", https=False)[0] != 401:
        fail("/metrics answered without a token")
    status, _, text = browser.request("/metrics", https=False,
                                      headers={"Authorization": f"Bearer {token}"})
    if status != 200 or 'recovery_queue_depth{tier="low"}' not in text:
        fail(f"/metrics answered {status}")
    print("smoke: /metrics answers the scraper")


HEALTHZ_COUNT = ("recovery_http_request_duration_seconds_count",
                 frozenset({"view": "healthz", "method": "GET", "status": "2xx"}.items()))
HEARTBEAT_COUNT = ("recovery_celery_task_duration_seconds_count",
                   frozenset({"task": "recovery_console.tasks.record_beat_heartbeat"}.items()))


def scrape(browser: Browser) -> dict:
    status, _, text = browser.request(
        "/metrics", https=False,
        headers={"Authorization": f"Bearer {os.environ.get('METRICS_TOKEN', '')}"})
    if status != 200:
        fail(f"/metrics answered {status}")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def healthz_by_process(folder: Path) -> dict[str, float]:
    """Each process's own count of /healthz requests, read from its file in
    the multi-process folder by the library (one file at a time)."""
    counts = {}
    for path in folder.glob("histogram_*.db"):
        with tempfile.TemporaryDirectory() as alone:
            shutil.copy(path, alone)
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=alone)
            samples = {(s.name, frozenset(s.labels.items())): s.value
                       for family in registry.collect() for s in family.samples}
        if samples.get(HEALTHZ_COUNT):
            counts[path.stem] = samples[HEALTHZ_COUNT]
    return counts


def metrics(browser: Browser, folder: Path) -> None:
    """Requests answered by both gunicorn workers add up in every scrape,
    and the Celery worker's tasks show there too (one folder per host)."""
    before, sent = scrape(browser).get(HEALTHZ_COUNT, 0), 0

    def healthz(_) -> int:
        return Browser(browser.base).request("/healthz", https=False)[0]

    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(20):  # until both workers have answered some
            statuses = list(pool.map(healthz, range(16)))
            if statuses != [200] * 16:
                fail(f"/healthz answered {sorted(set(statuses))}")
            sent += 16
            if len(healthz_by_process(folder)) >= 2:
                break
    by_process = healthz_by_process(folder)
    if len(by_process) < 2:
        fail(f"one web worker answered every request: {by_process}")
    totals = {scrape(browser).get(HEALTHZ_COUNT, 0) for _ in range(6)}
    if totals != {before + sent}:
        fail(f"scrapes counted {sorted(totals)} /healthz requests, not {before + sent}")
    if sum(by_process.values()) != before + sent:
        fail(f"the workers' own counts {by_process} do not add up to {before + sent}")
    print(f"smoke: {sent} requests, answered by {len(by_process)} web workers "
          f"({', '.join(str(int(n)) for n in by_process.values())}), add up in every scrape")
    deadline = time.monotonic() + 60
    while not scrape(browser).get(HEARTBEAT_COUNT) and time.monotonic() < deadline:
        time.sleep(1)
    if not scrape(browser).get(HEARTBEAT_COUNT):
        fail("the Celery worker's heartbeat task is not in the web scrape")
    print("smoke: the Celery worker's task durations show in the web scrape")


def main(argv: list[str]) -> None:
    base, command, *args = argv
    browser = Browser(base)
    if command == "wait-ready":
        answer = poll_readiness(browser, 200, float(args[0]) if args else 120)
        print(f"smoke: /readyz is green: {json.dumps(answer['checks'])}")
    elif command == "wait-unready":
        answer = poll_readiness(browser, 503, float(args[0]) if args else 30)
        failed = sorted(name for name, check in answer["checks"].items() if not check["ok"])
        print(f"smoke: /readyz is red, failing: {', '.join(failed)}")
        if not {"cache", "broker"} <= set(failed):
            fail("Redis is down but /readyz does not say the cache and broker are")
    elif command == "journey":
        journey(browser, *args)
    elif command == "metrics":
        metrics(browser, Path(args[0]))
    else:
        fail(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv[1:])
