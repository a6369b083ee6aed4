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
    turns = {size: r for size, r in results.items() if "rounds" in r["pages"]["baseline"]}
    if turns:
        out += ["", "The bare and the signed-in baseline were measured in turns under 8 "
                "clients; each row above uses the round of median throughput. Every round, "
                "req/s (bare / signed-in, ratio): " + "; ".join(
                    f"{size}: " + ", ".join(
                        f"{bare} / {signed} ({signed / bare:.2f})" for bare, signed in zip(
                            r["pages"]["baseline"]["rounds"],
                            r["pages"]["baseline_staff"]["rounds"], strict=True))
                    for size, r in turns.items()) + "."]
    out += ["", "### Pages: throughput ratio to the signed-in baseline", "",
            "What a staff page costs beyond signing in: its throughput over that of the "
            "one-query view behind the staff sign-in, in the same run.", "",
            "| page | " + " | ".join(sizes) + " |", "|---|" + "---|" * len(sizes)]
    for page, title in PAGES[1:]:
        cells = []
        for r in results.values():
            if page not in r["pages"] or "baseline_staff" not in r["pages"]:
                cells.append("—")
                continue
            signed_in = r["pages"]["baseline_staff"]["concurrent"]["rps"]
            cells.append(f"{r['pages'][page]['concurrent']['rps'] / signed_in:.2f}")
        out.append(f"| {title} | " + " | ".join(cells) + " |")
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
    out += peer_tables(results)
    return "\n".join(out)


PEER_PAGES = [
    ("queue", "console", "Console: queue, open cases (agent)"),
    ("list_html", "peer", "django-helpdesk: ticket list, the HTML page (open + reopened)"),
    ("list_json", "peer", "django-helpdesk: ticket list, the JSON call that fills it (25 rows)"),
    ("list_both", "peer", "django-helpdesk: ticket list, HTML + JSON (what opening it costs)"),
    ("case", "console", "Console: case page, 500 different closed cases (supervisor)"),
    ("ticket", "peer", "django-helpdesk: ticket page, 500 different closed tickets (staff)"),
]
PEER_RATIOS = {"list_html": "queue", "list_json": "queue", "list_both": "queue",
               "ticket": "case"}


def _served(page: dict) -> str:
    """'p50 / p95 / p99', or what happened instead when requests ran out of time."""
    if not page["requests"]:
        return f"no answer ({page['socket_errors']} timed out or cut)"
    cell = f"{page['p50_ms']:.1f} / {page['p95_ms']:.1f} / {page['p99_ms']:.1f}"
    failed = page["socket_errors"] + page["non_2xx_3xx"] + page.get("status_3xx", 0)
    return cell + (f" ({failed} of {page['requests'] + page['socket_errors']} failed or "
                   "timed out)" if failed else "")


def _peer_pages(r: dict) -> dict:
    """Each page's figures; the list as a person opens it: the HTML, then its JSON
    call (latencies add up, throughput is that of the pair)."""
    p = r["peer"]
    pages = {page: {**p["pages"][page], "bytes": p["console_served_bytes"].get(page)
                    if page in ("queue", "case") else p["served_bytes"].get(page)}
             for page in ("queue", "list_html", "list_json", "case", "ticket")}
    html, data = pages["list_html"], pages["list_json"]
    pair = {}
    for clients in ("one_client", "concurrent"):
        a, b = html[clients], data[clients]
        both = {key: a[key] + b[key] if a[key] is not None and b[key] is not None else None
                for key in ("p50_ms", "p95_ms", "p99_ms")}
        both["rps"] = 1 / (1 / a["rps"] + 1 / b["rps"]) if a["rps"] and b["rps"] else 0.0
        both.update({key: a.get(key, 0) + b.get(key, 0)
                     for key in ("requests", "socket_errors", "non_2xx_3xx", "status_3xx")})
        pair[clients] = both
    pages["list_both"] = {**pair, "bytes": (html["bytes"] or 0) + (data["bytes"] or 0)}
    return pages


def _queries(r: dict, page: str) -> str:
    if page in ("queue", "case"):
        q = r["pages_in_process"][page]
    elif page == "list_both":
        a, b = (r["peer"]["in_process"][p] for p in ("list_html", "list_json"))
        q = {"queries_min": a["queries_min"] + b["queries_min"],
             "queries_max": a["queries_max"] + b["queries_max"]}
    else:
        q = r["peer"]["in_process"][page]
    if q["queries_min"] is None:
        return "—"
    return (f"{q['queries_min']}" if q["queries_min"] == q["queries_max"]
            else f"{q['queries_min']}–{q['queries_max']}")


def peer_tables(results: dict[str, dict]) -> list[str]:
    """The peer row: django-helpdesk's list and ticket page beside the console's queue
    and case page, measured in turns on the same machine (bench/peer.py)."""
    measured = {size: r for size, r in results.items() if "peer" in r}
    if not measured:
        return []
    any_peer = next(iter(measured.values()))["peer"]
    out = ["", "### Peer: django-helpdesk", "",
           f"{any_peer['release']} (a minimal Django project as its docs install it, teams "
           "off; same Django, gunicorn settings, PostgreSQL and persistent connections as "
           "the console; DEBUG off), measured in turns with the console's pages: console "
           "queue, its ticket list, the JSON call that fills it, console case page, its "
           f"ticket page; {any_peer['rounds']} rounds, medians. The console's rows here are "
           "from these turns (not the tables above), so both sides saw the same machine. "
           "Ratio: the console's 8-client req/s divided by the peer page's (above 1: the "
           "console serves more). HTML + JSON: latencies added (for p95 and p99 an upper "
           "bound), throughput of the pair; KiB: one response as served.", ""]
    for size, r in measured.items():
        d = r["peer"]["data"]
        out.append(f"- {size}: {d['tickets']:,} tickets ({d['open']:,} open or reopened), "
                   f"{d['followups']:,} follow-ups, {d['queues']} queues, {d['staff']} staff; "
                   f"COPY {d['load_seconds']:.1f} s, VACUUM ANALYZE "
                   f"{d['vacuum_analyze_seconds']:.1f} s. Load during: "
                   f"{r['peer']['load_during'].split(';')[0]}")
    out += ["", "| page | size | 1 client p50 / p95 / p99 ms | 8 clients req/s | 8 clients "
            "p99 ms | queries | KiB | console ÷ peer |", "|---|---|---|---|---|---|---|---|"]
    for page, _, title in PEER_PAGES:
        for size, r in measured.items():
            pages = _peer_pages(r)
            one, many = pages[page]["one_client"], pages[page]["concurrent"]
            ratio = ""
            if page in PEER_RATIOS:
                console = pages[PEER_RATIOS[page]]["concurrent"]["rps"]
                ratio = f"{console / many['rps']:.2f}" if many["rps"] else "peer timed out"
            kib = f"{pages[page]['bytes'] / 1024:.0f}" if pages[page]["bytes"] else "—"
            p99 = "—" if many["p99_ms"] is None else f"{many['p99_ms']:.1f}"
            out.append(f"| {title} | {size} | {_served(one)} | {many['rps']:.1f} | {p99} | "
                       f"{_queries(r, page)} | {kib} | {ratio} |")
    out += ["", "What each page does (queries per request in process, Django's count):",
            "the console's queue counts and lists one page of the agent's open cases with "
            "their identities; its case page is one case's whole story (steps, evidence, "
            "approvals, audit timeline). django-helpdesk's list page renders the filters "
            "(queues, staff who may be assigned, saved searches) and an empty table; the "
            "browser then calls the JSON view, which counts the matching tickets twice (a "
            "COUNT over a DISTINCT subquery, no index on status) and serialises 25 rows, "
            "reading each row's time spent (a SUM over its follow-ups), its dependencies and "
            "its assignee one query at a time (its queries grow with the rows on the page, "
            "up to 25). Its ticket page renders "
            "one ticket with its follow-ups and the forms to update it. The console also "
            "writes a JSON log line per request, runs its security middleware (CSP, OTP "
            "device, fresh roles) and checks the staff role on every page; the peer has "
            "Django's defaults only. Neither response is cached."]
    return out


def main() -> None:
    # One file per size; other benchmarks keep their results beside them (scim_list.json).
    loaded = {p.stem: json.loads(p.read_text())
              for p in (ROOT / "bench" / "results").glob("*.json")}
    results = dict(sorted(((stem, r) for stem, r in loaded.items() if "identities" in r),
                          key=lambda item: item[1]["identities"]))
    target = ROOT / "BENCHMARKS.md"
    text = target.read_text() if target.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    target.write_text(f"{head}{START}\n{tables(results)}\n{END}{tail}")


if __name__ == "__main__":
    main()
