"""``make bench``: for each size, a scratch PostgreSQL database (bench_1k,
bench_10k, bench_100k: dropped and recreated), generated data, gunicorn in
production settings (bench.settings) with several workers, wrk on loopback
(bounded by time; action requests bounded by the fresh objects prepared),
then the in-process measurements. Results go to bench/results/<size>.json
and the tables of BENCHMARKS.md (bench/report.py).

Environment: BENCH_SIZES (default 1000,10000,100000), BENCH_PG_URL
(postgres://postgres@127.0.0.1:5432), BENCH_REDIS_URL (redis://127.0.0.1:6379/9),
BENCH_WORKERS (4), BENCH_SECONDS (10), PYTHON (this interpreter), BENCH_PEER (1: the
peer row, django-helpdesk, after the console's pages; 0 skips it; bench/peer.py),
BENCH_BASELINE_ROUNDS (3: the bare and signed-in baselines' turns under 8 clients),
BENCH_MAX_REQUESTS (0: gunicorn's worker recycling off, for the console and the peer).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess  # nosec B404 - runs our own commands
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from recovery_console.oidc.keys import new_private_key

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PY = os.environ.get("PYTHON", sys.executable)
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
WORKERS = os.environ.get("BENCH_WORKERS", "4")
# gunicorn's worker recycling (WEB_MAX_REQUESTS, 2000 in production): off, since the four
# workers reach their count together and all re-import the console within a second.
MAX_REQUESTS = os.environ.get("BENCH_MAX_REQUESTS", "0")
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = 8
ACTION_OBJECTS = {"evidence": 3000, "approval": 3000, "redeem": 6000}
WARM_OBJECTS = 600
PAIRED = ("baseline", "baseline_staff")  # measured in turns (paired_rounds)
BASELINE_ROUNDS = int(os.environ.get("BENCH_BASELINE_ROUNDS", "3"))


def label(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def say(*parts) -> None:
    print("bench:", *parts, flush=True)


def database(name: str, action: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(f"{PG_URL}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))
        if action == "create":
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(n: int, db: str) -> dict:
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DATABASE_URL": f"{PG_URL}/{db}", "REDIS_URL": REDIS_URL,
            "SECRET_KEY": os.environ.get("BENCH_SECRET_KEY", secrets.token_urlsafe(64)),
            "OIDC_RSA_PRIVATE_KEY": os.environ.get("OIDC_RSA_PRIVATE_KEY") or new_private_key(),
            "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver", "SITE_URL": "https://127.0.0.1",
            "BENCH_IDENTITIES": str(n), "VAR_DIR": os.environ.get("VAR_DIR", "/tmp/bench-var"),  # noqa: S108
            "DATABASE_CONN_MAX_AGE": "60", "WEB_MAX_REQUESTS": MAX_REQUESTS}


def run(env: dict, *args: str, timeout: int = 3600) -> str:
    done = subprocess.run(  # noqa: S603  # nosec B603 - our own interpreter and modules
        [PY, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
        check=False)
    if done.returncode:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-5000:])
        raise SystemExit(f"bench: failed: {' '.join(args)}")
    return done.stdout


def last_json(output: str) -> dict:
    return json.loads([line for line in output.splitlines() if line.startswith("{")][-1])


def load() -> str:
    """What else ran: load average and the busiest other processes."""
    average = Path("/proc/loadavg").read_text().split()[:3]
    top = subprocess.run(["ps", "-eo", "pcpu,comm", "--sort=-pcpu"],  # noqa: S603 S607  # nosec
                         capture_output=True, text=True, check=False).stdout.splitlines()[1:6]
    return f"load {' '.join(average)}; top: " + ", ".join(" ".join(t.split()) for t in top)


class Gunicorn:
    """The console under gunicorn (or, given ``command``, ``cwd`` and a ``ready`` path
    that answers 200 once it serves, another project: bench/peer.py)."""

    def __init__(self, env: dict, port: int, command: list[str] | None = None,
                 cwd: Path = ROOT, ready: str = "/healthz"):
        self.log = open(Path(tempfile.gettempdir()) / f"bench-gunicorn-{port}.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen(  # noqa: S603  # nosec B603
            command or [str(Path(PY).parent / "gunicorn"), "-c",
                        "python:recovery_console.ops.gunicorn", "recovery_console.wsgi"],
            cwd=cwd, env={**env, "PORT": str(port), "WEB_CONCURRENCY": WORKERS},
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{self.url}{ready}", timeout=1)  # noqa: S310  # nosec
                return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise SystemExit("bench: gunicorn did not start")

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.log.close()


def wrk(url: str, spec: dict, connections: int, seconds: int, timeout: int = 10) -> dict:
    threads = min(2, connections)
    host = url.removeprefix("http://")
    out = subprocess.run([  # noqa: S603 S607  # nosec B603 B607
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", f"{timeout}s",
        "-H", f"Cookie: {spec['cookie']}", "-H", "X-Forwarded-Proto: https",
        "-H", f"Origin: https://{host}", "-s", str(ROOT / "bench" / "wrk.lua"), url,
        "--", spec["file"], str(threads)], capture_output=True, text=True, check=True)
    return last_json(out.stdout)


def lock_waits(db: str, stop) -> list[int]:
    """Backends of ``db`` waiting on a lock, sampled every 0.25 s until ``stop`` is set."""
    import psycopg

    samples = []
    with psycopg.connect(f"{PG_URL}/postgres", autocommit=True) as conn:
        while not stop.is_set():
            samples.append(conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                "AND wait_event_type = 'Lock'", [db]).fetchone()[0])
            stop.wait(0.25)
    return samples


def paired_rounds(url: str, pages: dict, measured: dict) -> None:
    """The bare and the signed-in baseline under 8 clients, in turns, BASELINE_ROUNDS
    times: one pair of 10-second runs moves by a quarter from run to run on this kind of
    machine, and every ratio in the report divides by one of them. Each keeps the run of
    median throughput, and the throughput of every round."""
    for page in PAIRED:
        wrk(url, pages[page], 2, 2)  # warm every worker
    runs = {page: [] for page in PAIRED}
    for _ in range(BASELINE_ROUNDS):
        for page in PAIRED:
            runs[page].append(wrk(url, pages[page], CONNECTIONS, SECONDS))
    for page, done in runs.items():
        median = sorted(done, key=lambda r: r["rps"])[len(done) // 2]
        measured[page].update(concurrent=median, rounds=[round(r["rps"]) for r in done])
        say(page, f"{median['rps']:.0f} req/s (rounds: {measured[page]['rounds']}), "
                  f"p99 {median['p99_ms']} ms")


def bench_size(n: int) -> dict:
    name = f"bench_{label(n)}"
    say(f"== {name}: {n} identities")
    database(name, "create")
    env = environment(n, name)
    run(env, "manage.py", "migrate", "--noinput", "-v0")
    run(env, "manage.py", "collectstatic", "--noinput", "-v0")
    started = time.monotonic()
    run(env, "manage.py", "generate_bench_data", "--identities", str(n), "--allow-production")
    result = {"identities": n, "generate_seconds": round(time.monotonic() - started, 1),
              "load_before": load()}
    say(f"generated in {result['generate_seconds']}s")
    result["counts"] = last_json(run(env, "-m", "bench.measure", "counts"))
    result["pages_in_process"] = last_json(run(env, "-m", "bench.measure", "pages"))
    # Before the action fixtures add cases opened today.
    result["sample"] = last_json(run(env, "-m", "bench.measure", "sample"))
    say("sample", result["sample"])
    result["csv"] = last_json(run(env, "-m", "bench.measure", "csv_export"))
    say("csv", result["csv"])
    folder = Path(tempfile.mkdtemp(prefix=f"bench-{label(n)}-"))
    server = Gunicorn(env, free_port())
    try:
        pages = last_json(run(env, "-m", "bench.measure", "prepare", "pages", str(folder)))
        result["pages"] = {page: {} for page in pages}
        paired_rounds(server.url, pages, result["pages"])
        for page, spec in pages.items():
            wrk(server.url, spec, 2, 2)  # warm every worker
            result["pages"][page]["one_client"] = wrk(server.url, spec, 1, max(3, SECONDS // 2))
            if page in PAIRED:
                continue
            loaded = wrk(server.url, spec, CONNECTIONS, SECONDS)
            result["pages"][page]["concurrent"] = loaded
            say(page, f"{loaded['rps']:.0f} req/s, p99 {loaded['p99_ms']} ms")
        from . import peer  # it builds on this module

        if peer.enabled():
            result["peer"] = peer.measure(label(n), result["counts"]["cases"], server.url,
                                          pages)
        result["actions"] = {}
        for action, count in ACTION_OBJECTS.items():
            # Warm every worker on objects of its own (a first request per worker
            # pays for imports and connections), then measure on fresh ones.
            warm = last_json(run(env, "-m", "bench.measure", "prepare", action,
                                 str(folder / "warm"), str(WARM_OBJECTS)))
            wrk(server.url, warm, CONNECTIONS, 2)
            spec = last_json(run(env, "-m", "bench.measure", "prepare", action, str(folder),
                                 str(count)))
            stop = threading.Event()
            with ThreadPoolExecutor(1) as pool:
                waits = pool.submit(lock_waits, name, stop)
                loaded = wrk(server.url, spec, CONNECTIONS, SECONDS)
                stop.set()
                samples = waits.result()
            loaded["prepared"] = count
            loaded["lock_waiters_mean"] = round(sum(samples) / max(len(samples), 1), 2)
            loaded["lock_waiters_max"] = max(samples, default=0)
            result["actions"][action] = loaded
            say(action, f"{loaded['rps']:.0f} req/s, p99 {loaded['p99_ms']} ms, "
                        f"{loaded['non_2xx_3xx']} non-2xx/3xx")
        result["load_during"] = load()
    finally:
        server.stop()
    result["action_queries"] = last_json(run(env, "-m", "bench.measure", "action_queries"))
    result["sweep"] = last_json(run(env, "-m", "bench.measure", "sweep", str(n)))
    say("sweep", result["sweep"])
    result["chain"] = last_json(run(env, "-m", "bench.measure", "chain"))
    say("chain", result["chain"])
    result["load_after"] = load()
    shutil.rmtree(folder, ignore_errors=True)
    return result


def main() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("bench: wrk is missing (apt-get install -y wrk)")
    subprocess.run(["redis-cli", "-u", REDIS_URL, "flushdb"],  # noqa: S603 S607  # nosec
                   check=True, capture_output=True)
    RESULTS.mkdir(exist_ok=True)
    sizes = [int(s) for s in os.environ.get("BENCH_SIZES", "1000,10000,100000").split(",")]
    for n in sizes:
        result = bench_size(n)
        (RESULTS / f"{label(n)}.json").write_text(json.dumps(result, indent=2))
    run(dict(os.environ), "-m", "bench.report")
    say("BENCHMARKS.md written")


if __name__ == "__main__":
    main()
