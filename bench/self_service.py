"""``python -m bench.self_service``: is the self-service request an account
oracle by its timing? A scratch PostgreSQL database (bench_self_service,
dropped and recreated) with generated data, gunicorn in production settings
(bench.settings), and one client sending interleaved requests for real
accounts (each asked about once: a first request, which opens a case) and
for identifiers nobody has. Reports the median time of each, as the client
saw it and as the server logged it (the request log's duration_ms, matched
by X-Request-ID). When the code resolves requests in a worker, a Celery
worker runs throughout (as in production) and the run checks afterwards
that every known request opened its case.

Not part of ``make test`` or ``make bench``. Environment: BENCH_PG_URL
(postgres://postgres@127.0.0.1:5432), BENCH_REDIS_URL
(redis://127.0.0.1:6379/9), BENCH_IDENTITIES (1000), BENCH_REQUESTS (300
of each kind), BENCH_WORKERS (2), BENCH_LABEL (a name for the result file).
Results: bench/results/self_service/<label>.json.

    python -m bench.self_service            # the whole run
    python -m bench.self_service pick N     # (internal) N directory ids to ask about
    python -m bench.self_service outcome    # (internal) what the requests led to
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import subprocess  # nosec B404 - runs our own commands
import sys
import time
import urllib.parse
from pathlib import Path

from bench.run import (
    PY,
    ROOT,
    Gunicorn,
    database,
    environment,
    free_port,
    last_json,
    load,
    run,
    say,
)

DB = "bench_self_service"
IDENTITIES = int(os.environ.get("BENCH_IDENTITIES", "1000"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "300"))
WARM = 20
RESOLVED_IN_WORKER = (ROOT / "recovery_console" / "self_service.py").exists()


def pick(count: int) -> list[str]:
    """Directory ids of people a first self-service request opens a case for:
    active, non-privileged employees at a low sensitivity without an open case."""
    from accounts.models import Identity
    from recovery_console.models import RecoveryCase

    people = (Identity.objects.filter(kind="employee", privileged=False, is_active=True,
                                      data_sensitivity="low")
              .exclude(recovery_cases__state__in=RecoveryCase.OPEN_STATES)
              .order_by("pk").values_list("directory_id", flat=True))
    return list(people[:count])


def outcome() -> dict:
    from auditlog.models import LogEntry

    from recovery_console.models import RecoveryCase

    found = {"self_service_cases": RecoveryCase.objects.filter(source="self_service").count(),
             "unknown_refusals": LogEntry.objects.filter(
                 additional_data__event="case_open_refused",
                 additional_data__reason="unknown_account").count()}
    if RESOLVED_IN_WORKER:
        from recovery_console.models import SelfServiceRequest

        found["unresolved"] = SelfServiceRequest.objects.count()
    return found


class Browser:
    """One person's browser on the request page: the CSRF cookie from a first
    GET, then form posts over a fresh connection each (as gunicorn's sync
    workers close them)."""

    def __init__(self, url: str):
        self.host, self.port = urllib.parse.urlsplit(url).hostname, urllib.parse.urlsplit(url).port
        status, headers, _ = self._send("GET", {})
        cookie = next(v for k, v in headers if k.lower() == "set-cookie" and "csrf" in v)
        self.cookie = cookie.split(";", 1)[0]
        self.token = self.cookie.split("=", 1)[1]
        assert status == 200, status

    def _send(self, method: str, form: dict):
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        body = urllib.parse.urlencode(form) if form else None
        headers = {"X-Forwarded-Proto": "https", "Origin": f"https://{self.host}:{self.port}",
                   "Referer": f"https://{self.host}:{self.port}/recover/"}
        if form:
            headers |= {"Content-Type": "application/x-www-form-urlencoded",
                        "Cookie": self.cookie}
        connection.request(method, "/recover/", body=body, headers=headers)
        response = connection.getresponse()
        content = response.read()
        connection.close()
        return response.status, response.getheaders(), content

    def ask(self, identifier: str) -> tuple[float, int, str, bytes]:
        started = time.perf_counter()
        status, headers, content = self._send(
            "POST", {"identifier": identifier, "csrfmiddlewaretoken": self.token})
        took = time.perf_counter() - started
        request_id = next((v for k, v in headers if k.lower() == "x-request-id"), "")
        return took, status, request_id, content


def server_times(log: Path) -> dict[str, float]:
    """duration_ms of each request in gunicorn's log, by request id."""
    times = {}
    for line in log.read_text().splitlines():
        if line.startswith("{") and '"duration_ms"' in line:
            entry = json.loads(line)
            if entry.get("request_id"):
                times[entry["request_id"]] = entry["duration_ms"]
    return times


def summary(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {"median_ms": round(statistics.median(ordered), 2),
            "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))], 2),
            "mean_ms": round(statistics.fmean(ordered), 2), "n": len(ordered)}


def worker(env: dict) -> subprocess.Popen:
    return subprocess.Popen(  # noqa: S603  # nosec B603 - our own interpreter and app
        [PY, "-m", "celery", "-A", "recovery_console", "worker", "--pool=solo",
         "--loglevel=WARNING", "--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)


def main() -> None:
    label = os.environ.get("BENCH_LABEL", "after" if RESOLVED_IN_WORKER else "before")
    say(f"== self-service: {IDENTITIES} identities, {REQUESTS} requests of each kind, {label}")
    database(DB, "create")
    env = {**environment(IDENTITIES, DB), "PYTHONPATH": str(ROOT),
           # One client asks about many people: the per-address limit (10 an
           # hour) would refuse all but the first few. The per-account limit
           # stays: each real account is asked about once.
           "RECOVERY_SELF_SERVICE_MAX_PER_ADDRESS": str(10**9),
           "WEB_CONCURRENCY": os.environ.get("BENCH_WORKERS", "2")}
    subprocess.run(["redis-cli", "-u", env["REDIS_URL"], "flushdb"],  # noqa: S603 S607  # nosec
                   check=True, capture_output=True)
    run(env, "manage.py", "migrate", "--noinput", "-v0")
    run(env, "manage.py", "collectstatic", "--noinput", "-v0")
    run(env, "manage.py", "generate_bench_data", "--identities", str(IDENTITIES),
        "--allow-production")
    known = json.loads(run(env, "-m", "bench.self_service", "pick", str(REQUESTS + WARM)))
    if len(known) < REQUESTS + WARM:
        raise SystemExit(f"bench: only {len(known)} identities to ask about; raise "
                         "BENCH_IDENTITIES or lower BENCH_REQUESTS")
    unknown = [f"nobody-{n:05d}@example.org" for n in range(REQUESTS + WARM)]
    before = last_json(run(env, "-m", "bench.self_service", "outcome"))
    port = free_port()
    server = Gunicorn({**env}, port)
    background = worker(env) if RESOLVED_IN_WORKER else None
    result = {"label": label, "identities": IDENTITIES, "requests_each": REQUESTS,
              "resolved_in_worker": RESOLVED_IN_WORKER, "load_before": load()}
    samples: dict[str, list[tuple[float, str]]] = {"known": [], "unknown": []}
    bodies: dict[str, set[bytes]] = {"known": set(), "unknown": set()}
    try:
        browser = Browser(server.url)
        for n in range(REQUESTS + WARM):
            pair = [("known", known[n]), ("unknown", unknown[n])]
            for kind, identifier in pair if n % 2 == 0 else reversed(pair):
                took, status, request_id, content = browser.ask(identifier)
                if status != 200:
                    raise SystemExit(f"bench: {kind} request answered {status}")
                if n >= WARM:  # the first requests warm every worker
                    samples[kind].append((took, request_id))
                    bodies[kind].add(content.split(b'name="csrf-token"')[0])
        result["load_during"] = load()
    finally:
        server.stop()
    logged = server_times(Path(server.log.name))
    for kind in samples:
        result[kind] = {
            "client": summary([t * 1000 for t, _ in samples[kind]]),
            "server": summary([logged[r] for _, r in samples[kind] if r in logged]),
        }
        say(kind, "client", result[kind]["client"], "server", result[kind]["server"])
    result["same_page"] = len(bodies["known"] | bodies["unknown"]) == 1
    result["ratio_server_median"] = round(result["known"]["server"]["median_ms"]
                                          / result["unknown"]["server"]["median_ms"], 2)
    if background is not None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            result["outcome"] = last_json(run(env, "-m", "bench.self_service", "outcome"))
            if result["outcome"]["unresolved"] == 0:
                break
            time.sleep(1)
        os.killpg(background.pid, 15)
        background.wait(timeout=60)
    else:
        result["outcome"] = last_json(run(env, "-m", "bench.self_service", "outcome"))
    result["outcome"] = {key: value - before.get(key, 0) if key != "unresolved" else value
                         for key, value in result["outcome"].items()}
    say("outcome", result["outcome"], "known/unknown server median",
        result["ratio_server_median"])
    # A folder of its own: bench/report.py renders every bench/results/*.json.
    folder = ROOT / "bench" / "results" / "self_service"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{label}.json").write_text(
        json.dumps(result, indent=2) + "\n")
    database(DB, "drop")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        import django

        django.setup()
        print(json.dumps(pick(int(sys.argv[2])) if sys.argv[1] == "pick" else outcome()))
    else:
        main()
