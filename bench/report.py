"""Render bench/results/*.json into the measured tables of BENCHMARKS.md
(between the results markers; the rest of the file is written by hand)."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- results:start -->", "<!-- results:end -->"
PAGES = [("baseline_staff", "Signed-in baseline: the same view behind the staff sign-in"),
         ("queue", "Queue, open cases (agent)"),
         ("queue_filtered", "Queue, all states, tier filter, pages 2/7/20 (agent)"),
         ("queue_search", "Queue search: surname, name, directory id, email, phone, case "
                          "number (agent)"),
         ("case", "Case page, 500 different closed cases (supervisor)"),
         ("approvals", "Approvals page (supervisor)")]
ACTIONS = [("evidence", "Evidence check (record callback step)"),
           ("approval", "Approval (supervisor, stepped up)"),
           ("redeem", "Credential redemption")]


def tables(results: dict[str, dict]) -> str:
    sizes = list(results)
    described = ", ".join(
        f"{s} ({r['counts']['identities']:,} identities, {r['counts']['cases']:,} cases, "
        f"{r['counts']['open_cases']:,} open, {r['counts']['awaiting_approval']:,} awaiting "
        f"approval, {r['counts']['audit_entries']:,} audit entries)"
        for s, r in results.items())
    out = [f"Sizes: {described}.", ""]
    out += ["### Pages: throughput ratio to the baseline (the headline)", "",
            "| page | " + " | ".join(sizes) + " |", "|---|" + "---|" * len(sizes)]
    for page, title in PAGES:
        cells = []
        for r in results.values():
            if page not in r["pages"]:  # measured before this page existed
                cells.append("—")
                continue
            baseline = r["pages"]["baseline"]["concurrent"]["rps"]
            ratio = r["pages"][page]["concurrent"]["rps"] / baseline
            cells.append(f"{ratio:.2f}")
        out.append(f"| {title} | " + " | ".join(cells) + " |")
    out.append("| baseline req/s (1 indexed query) | " + " | ".join(
        f"{r['pages']['baseline']['concurrent']['rps']:.0f}" for r in results.values()) + " |")
    out += ["", "### Pages: server time and queries", "",
            "One client (wrk, 1 connection, through gunicorn): median / p95 / p99 ms; "
            f"{8} clients: req/s and p99; in process (Django test client, no network): median ms "
            "and the query count per request.", "",
            "| page | size | 1 client p50 / p95 / p99 ms | 8 clients req/s | 8 clients p99 ms "
            "| in-process median ms | queries |", "|---|---|---|---|---|---|---|"]
    for page, title in [("baseline", "Baseline")] + PAGES:
        for size, r in results.items():
            if page not in r["pages"]:
                continue
            one, many = r["pages"][page]["one_client"], r["pages"][page]["concurrent"]
            inproc = r["pages_in_process"][page]
            queries = (f"{inproc['queries_min']}" if inproc["queries_min"] == inproc["queries_max"]
                       else f"{inproc['queries_min']}–{inproc['queries_max']}")
            out.append(f"| {title} | {size} | {one['p50_ms']:.1f} / {one['p95_ms']:.1f} / "
                       f"{one['p99_ms']:.1f} | {many['rps']:.0f} | {many['p99_ms']:.1f} | "
                       f"{inproc['median_ms']:.1f} | {queries} |")
    out += ["", "### State-changing actions (8 concurrent clients, fresh object per request)", "",
            "Statements: SQL per request, in process (Django's count; it does not see a COPY, "
            "which only a transaction of more than 100 audit entries uses for its chain "
            "links).", "",
            "| action | size | req/s | p50 ms | p95 ms | p99 ms | requests | non-2xx/3xx "
            "| statements |", "|---|---|---|---|---|---|---|---|---|"]
    for action, title in ACTIONS:
        for size, r in results.items():
            a = r["actions"][action]
            q = r.get("action_queries", {}).get(action)
            statements = ("" if q is None else f"{q['queries_min']}" if q["queries_min"] ==
                          q["queries_max"] else f"{q['queries_min']}–{q['queries_max']}")
            out.append(f"| {title} | {size} | {a['rps']:.0f} | {a['p50_ms']:.1f} | "
                       f"{a['p95_ms']:.1f} | {a['p99_ms']:.1f} | {a['requests']} | "
                       f"{a['non_2xx_3xx']} | {statements} |")
    out += ["", "### Batch work", "",
            "| measurement | " + " | ".join(sizes) + " |", "|---|" + "---|" * len(sizes)]
    rows = [
        ("Stratified sample of 500 over a year (tier × kind): median s, population",
         lambda r: f"{r['sample']['median_ms'] / 1000:.3f} s of {r['sample']['population']:,}"),
        ("CSV export (streamed): cases, seconds, Python peak MiB",
         lambda r: f"{r['csv']['cases']:,} in {r['csv']['seconds']:.2f} s, "
                   f"{r['csv']['python_peak_mib']:.1f} MiB"),
        ("Expiry sweep: due credentials, seconds",
         lambda r: f"{r['sweep']['expired']:,} in {r['sweep']['seconds']:.2f} s"),
        ("verify_audit_chain: entries, seconds, max RSS MiB",
         lambda r: f"{r['chain']['entries']:,} in {r['chain']['seconds']:.1f} s, "
                   f"{r['chain']['max_rss_mib']:.0f} MiB"
                   + ("" if r["chain"]["intact"] else " BROKEN")),
        ("generate_bench_data: seconds", lambda r: f"{r['generate_seconds']:.0f} s"),
    ]
    for title, cell in rows:
        out.append(f"| {title} | " + " | ".join(cell(r) for r in results.values()) + " |")
    out += ["", "### What else was running", ""]
    for size, r in results.items():
        out.append(f"- {size}: before: {r['load_before']}; during the load tests: "
                   f"{r['load_during']}; after: {r['load_after']}")
    return "\n".join(out)


def main() -> None:
    files = sorted((ROOT / "bench" / "results").glob("*.json"),
                   key=lambda p: json.loads(p.read_text())["identities"])
    results = {p.stem: json.loads(p.read_text()) for p in files}
    target = ROOT / "BENCHMARKS.md"
    text = target.read_text() if target.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    target.write_text(f"{head}{START}\n{tables(results)}\n{END}{tail}")


if __name__ == "__main__":
    main()
