"""The peer row of ``make bench``: django-helpdesk (the release pinned, with hashes, in
bench/peer/requirements.txt, installed into a virtual environment of its own,
``var/bench-peer-venv``), as many tickets as the console's data set has cases with about
3 follow-ups each (COPY, into ``bench_peer_<size>``, dropped and recreated), served by
the same gunicorn settings as the console (bench/peer/gunicorn_conf.py), and measured by
wrk ALTERNATELY with the console's pages: console queue, peer ticket list (HTML), the
JSON call that fills it, console case page, peer ticket page; again, for a few rounds.
Each measurement is 1 client (latency) then 8 clients (throughput); a round's figure per
page is the median over the rounds.

    python -m bench.peer IDENTITIES CONSOLE_DB [TICKETS]

measures against a console database already generated (its gunicorn is started here)
and prints the ``peer`` result; ``make bench`` calls ``measure`` for every size unless
BENCH_PEER=0. Environment: BENCH_PEER_TICKETS (default: the console's case count),
BENCH_PEER_ROUNDS (3), BENCH_PEER_SECONDS (one measurement's length under 8 clients: 5;
1 client: 3).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
import shutil
import statistics
import subprocess  # nosec B404 - runs our own commands
import sys
import tempfile
import urllib.request
from pathlib import Path

from . import run as bench

SITE = bench.ROOT / "bench" / "peer"
REQUIREMENTS = SITE / "requirements.txt"
VENV = bench.ROOT / "var" / "bench-peer-venv"
ROUNDS = int(os.environ.get("BENCH_PEER_ROUNDS", "3"))
MANY_SECONDS = int(os.environ.get("BENCH_PEER_SECONDS", "5"))
ONE_SECONDS = max(2, MANY_SECONDS * 3 // 5)
# Longer than gunicorn's worker timeout (30 s): a request that runs out of time
# ends as the worker's kill (a socket error here), not as wrk giving up first.
WRK_TIMEOUT = 40
# One round, in this order; the console's pages were prepared by bench.prepare.
ORDER = [("console", "queue"), ("peer", "list_html"), ("peer", "list_json"),
         ("console", "case"), ("peer", "ticket")]


def enabled() -> bool:
    return os.environ.get("BENCH_PEER", "1") != "0"


def release() -> str:
    pin = next(line for line in REQUIREMENTS.read_text().splitlines()
               if line.startswith("django-helpdesk=="))
    return pin.split()[0].replace("==", " ")


def python() -> Path:
    """The peer's interpreter: its virtual environment, made with the machine's
    ``python3 -m venv`` and installed from the hashed requirements, or reused when it
    was installed from the same requirements file."""
    stamp = VENV / "requirements.sha256"
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return VENV / "bin" / "python"
    bench.say(f"installing {release()} into {VENV.relative_to(bench.ROOT)}")
    shutil.rmtree(VENV, ignore_errors=True)
    system_python = shutil.which("python3") or "python3"
    subprocess.run([system_python, "-m", "venv", str(VENV)], check=True)  # noqa: S603  # nosec
    subprocess.run([str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet",  # noqa: S603  # nosec
                    "--require-hashes", "-r", str(REQUIREMENTS)], check=True)
    stamp.write_text(digest)
    return VENV / "bin" / "python"


def environment(db: str) -> dict:
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "helpdesk_site.settings",
            "DATABASE_URL": f"{bench.PG_URL}/{db}", "DATABASE_CONN_MAX_AGE": "60",
            "SECRET_KEY": secrets.token_urlsafe(64), "PYTHONPATH": str(SITE),
            "WEB_MAX_REQUESTS": bench.MAX_REQUESTS}


def tool(env: dict, *args: str, timeout: int = 3600) -> dict:
    """A part of bench/peer/peer_tool.py, run by the peer's interpreter."""
    done = subprocess.run(  # noqa: S603  # nosec B603 - the peer's interpreter, our script
        [str(python()), str(SITE / "peer_tool.py"), *args], cwd=SITE, env=env,
        capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-5000:])
        raise SystemExit(f"bench: peer failed: {' '.join(args)}")
    return bench.last_json(done.stdout)


def prepare(size: str, tickets: int, folder: Path) -> tuple[dict, dict]:
    """The peer's database ``bench_peer_<size>``, afresh: migrated, loaded, a staff
    session, request files, and the in-process figures of each page."""
    db = f"bench_peer_{size}"
    env = environment(db)
    python()
    bench.database(db, "create")
    migrate = subprocess.run(  # noqa: S603  # nosec B603
        [str(python()), "-m", "django", "migrate", "--noinput", "-v0"], cwd=SITE, env=env,
        capture_output=True, text=True, check=False)
    if migrate.returncode:
        sys.stderr.write(migrate.stderr[-5000:])
        raise SystemExit("bench: peer migrate failed")
    loaded = tool(env, "load", str(tickets))
    bench.say("peer loaded", loaded)
    specs = tool(env, "requests", str(folder))
    result = {"release": release(), "database": db, "data": loaded,
              "in_process": tool(env, "pages", str(folder))}
    bench.say("peer in process", result["in_process"])
    return env, {"result": result, "specs": specs}


def seconds_for(in_process: dict | None, base: int) -> int:
    """A measurement long enough to finish a few requests of a slow page."""
    median = (in_process or {}).get("median_ms") or 0
    return min(120, max(base, math.ceil(3 * median / 1000)))


def summary(runs: list[dict]) -> dict:
    """Median of each figure over the rounds (latencies over the rounds that got an
    answer; a round without one counts as 0 req/s); errors and requests summed."""
    answered = [r for r in runs if r["requests"]]
    out = {key: round(statistics.median(r[key] for r in answered), 2) if answered else None
           for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms")}
    out["rps"] = round(statistics.median(r["rps"] for r in runs), 2)
    for key in ("requests", "non_2xx_3xx", "socket_errors", "timeouts", "status_3xx"):
        out[key] = sum(r.get(key, 0) for r in runs)
    return out


def alternate(servers: dict, specs: dict, in_process: dict) -> dict:
    """ORDER, ROUNDS times: every page under 1 then 8 clients, the pages taking turns."""
    runs = {page: {"one_client": [], "concurrent": []} for _, page in ORDER}
    for side, page in ORDER:  # a worker's first request pays for imports and connections
        bench.wrk(servers[side], specs[page], 2, seconds_for(in_process.get(page), 2),
                  WRK_TIMEOUT)
    for round_ in range(ROUNDS):
        for side, page in ORDER:
            url, spec = servers[side], specs[page]
            one = bench.wrk(url, spec, 1, seconds_for(in_process.get(page), ONE_SECONDS),
                            WRK_TIMEOUT)
            many = bench.wrk(url, spec, bench.CONNECTIONS,
                             seconds_for(in_process.get(page), MANY_SECONDS), WRK_TIMEOUT)
            runs[page]["one_client"].append(one)
            runs[page]["concurrent"].append(many)
            bench.say(f"round {round_ + 1}", side, page,
                      f"1 client p50 {one['p50_ms']} ms; 8 clients {many['rps']:.0f} req/s, "
                      f"p99 {many['p99_ms']} ms, non-2xx/3xx {many['non_2xx_3xx']}, "
                      f"socket errors {many['socket_errors']}")
    return {page: {"one_client": summary(r["one_client"]), "concurrent": summary(r["concurrent"]),
                   "rounds": r} for page, r in runs.items()}


def served(url: str, spec: dict) -> int:
    """One request of a console page through its server: 200, and its size."""
    path = Path(spec["file"]).read_text().splitlines()[0].split("\t")[1]
    request = urllib.request.Request(  # noqa: S310 - loopback, our own server
        url + path, headers={"Cookie": spec["cookie"], "X-Forwarded-Proto": "https"})
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310  # nosec
        body = response.read()
        assert response.status == 200 and response.url == url + path, (path, response.url)
    return len(body)


def measure(size: str, tickets: int, console_url: str, console_specs: dict) -> dict:
    """The peer row for one size, the console already served at ``console_url``."""
    tickets = int(os.environ.get("BENCH_PEER_TICKETS", tickets))
    folder = Path(tempfile.mkdtemp(prefix=f"bench-peer-{size}-"))
    env, prepared = prepare(size, tickets, folder)
    result = prepared["result"]
    peer_gunicorn = [str(VENV / "bin" / "gunicorn"), "-c", str(SITE / "gunicorn_conf.py"),
                     "helpdesk_site.wsgi"]
    server = bench.Gunicorn(env, bench.free_port(), command=peer_gunicorn, cwd=SITE,
                            ready="/login/")
    try:
        result["served_bytes"] = tool(env, "probe", str(folder), server.url, timeout=900)
        result["console_served_bytes"] = {page: served(console_url, console_specs[page])
                                          for page in ("queue", "case")}
        result["load_before"] = bench.load()
        specs = {**prepared["specs"], **{page: console_specs[page] for page in ("queue", "case")}}
        result["pages"] = alternate({"console": console_url, "peer": server.url}, specs,
                                    result["in_process"])
        result["rounds"] = ROUNDS
        result["load_during"] = bench.load()
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return result


def main(identities: int, console_db: str, tickets: int | None = None) -> dict:
    env = bench.environment(identities, console_db)
    size = bench.label(identities)
    cases = int(bench.run(env, "-c", "import django; django.setup(); "
                          "from recovery_console.models import RecoveryCase; "
                          "print(RecoveryCase.objects.count())").split()[-1])
    bench.run(env, "manage.py", "collectstatic", "--noinput", "-v0")
    folder = Path(tempfile.mkdtemp(prefix=f"bench-console-{size}-"))
    server = bench.Gunicorn(env, bench.free_port())
    try:
        console_specs = bench.last_json(bench.run(env, "-m", "bench.measure", "prepare",
                                                  "pages", str(folder)))
        result = measure(size, tickets or cases, server.url, console_specs)
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    result["console_cases"] = cases
    result["console_in_process"] = bench.last_json(bench.run(env, "-m", "bench.measure",
                                                             "pages"))
    return result


if __name__ == "__main__":
    n, db, *rest = sys.argv[1:]
    outcome = main(int(n), db, int(rest[0]) if rest else None)
    target = bench.ROOT / "var" / f"bench-peer-{bench.label(int(n))}.json"
    target.write_text(json.dumps(outcome, indent=2))
    print(json.dumps(outcome))
