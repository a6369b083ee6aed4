"""Reading a large directory over LDAP: a
private slapd loaded offline (slapadd) with a generated organisation, then,
each in a fresh process so its memory is its own: a full read (memberOf
from the overlay), a full read working membership out from the groups
(nesting included), and an incremental read after 1 % of the people
changed (through ldapmodify, as an administrator would). Reader only:
what the console then applies is the directory workflow's cost, measured
with it.

    python -m bench.ldap_read [PEOPLE]        (default 100000)

prints one JSON object, also written to var/bench-ldap-<PEOPLE>.json: wall
seconds and the reader's own CPU seconds (slapd runs beside it on the same
cores), peak memory. Needs slapd and ldap-utils (Debian). Not part of
``make bench`` yet.
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess  # nosec B404 - runs this module again, our own arguments
import sys
import tempfile
import time
from pathlib import Path

from recovery_console.directory.ldap import LdapConfig, read
from tests.directory.people import READER_DN, READER_PASSWORD, SUFFIX, generate
from tests.directory.slapd import Slapd, missing

ROOT = Path(__file__).resolve().parent.parent
PASSWORD_ENV = "BENCH_LDAP_PASSWORD"  # noqa: S105 - the variable's name
PAGE = 1000  # Active Directory's default MaxPageSize


def config(url: str, membership: str = "auto") -> LdapConfig:
    return LdapConfig(membership=membership,
        url=url, bind_dn=READER_DN, password_env=PASSWORD_ENV, base_dn=SUFFIX,
        attributes=("uid", "cn", "mail", "telephoneNumber", "departmentNumber",
                    "employeeType", "manager", "pwdAccountLockedTime"),
        page_size=PAGE, receive_timeout=120, watched_groups=("admins", "executives"))


def one_read(url: str, since: str, membership: str) -> dict:
    """In this (fresh) process: one read, its time and the process's peak memory."""
    os.environ[PASSWORD_ENV] = READER_PASSWORD
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started, cpu = time.perf_counter(), time.process_time()
    result = read(config(url, membership), since=since)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2),
            "records": len(result.records),
            "full": result.full, "watermark": result.watermark,
            "peak_rss_mb": round(peak / 1024), "rss_growth_mb": round((peak - before) / 1024)}


def _child(url: str, since: str = "", membership: str = "auto") -> dict:
    done = subprocess.run([sys.executable, "-m", "bench.ldap_read", "--one", url, since,  # noqa: S603
                           membership],
                          cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def main(people: int) -> dict:
    reason = missing()
    if reason:
        sys.exit(reason)
    out: dict = {"people": people, "page_size": PAGE}
    started = time.perf_counter()
    directory = generate(people)
    out["generate_seconds"] = round(time.perf_counter() - started, 1)
    with tempfile.TemporaryDirectory(prefix="bench-ldap-") as workdir:
        server = Slapd(Path(workdir), page_limit=PAGE)
        try:
            started = time.perf_counter()
            server.load(directory)
            out["slapadd_and_start_seconds"] = round(time.perf_counter() - started, 1)
            out["full"] = full = _child(server.url)
            # memberOf not trusted: every group read, nesting resolved
            out["full_membership_from_groups"] = _child(server.url, membership="groups")
            changed = random.Random(18).sample(  # noqa: S311 - not a secret
                directory.people, people // 100)
            started = time.perf_counter()
            server.modify("".join(
                f"dn: {p.dn}\nchangetype: modify\nreplace: telephoneNumber\n"
                f"telephoneNumber: +1 555 {i:07d}\n\n" for i, p in enumerate(changed)))
            out["ldapmodify_1pct_seconds"] = round(time.perf_counter() - started, 1)
            out["incremental_1pct"] = _child(server.url, full["watermark"])
            out["incremental_1pct"]["changed"] = len(changed)
        finally:
            server.stop()
    out["incremental_share_of_full"] = round(
        out["incremental_1pct"]["seconds"] / max(out["full"]["seconds"], 0.001), 3)
    for part in ("full", "full_membership_from_groups", "incremental_1pct"):
        out[part].pop("watermark")
    return out


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        print(json.dumps(one_read(*sys.argv[2:5])))
    else:
        size = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
        report = main(size)
        (ROOT / "var").mkdir(exist_ok=True)
        (ROOT / "var" / f"bench-ldap-{size}.json").write_text(json.dumps(report, indent=2))
        print(json.dumps(report, indent=2))
