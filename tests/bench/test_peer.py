"""The peer row of ``make bench`` (django-helpdesk), without installing it: the
report renders results with and without a peer measurement, a page that timed out
is reported as such, and the peer is served with the console's gunicorn values."""

import copy
import json
import runpy
from pathlib import Path

from bench import report
from bench.peer import summary

ROOT = Path(__file__).resolve().parents[2]


def wrk_result(rps: float, p50: float, requests: int = 100, socket_errors: int = 0) -> dict:
    return {"requests": requests, "seconds": 5.0, "rps": rps, "p50_ms": p50, "p95_ms": p50 * 2,
            "p99_ms": p50 * 3, "max_ms": p50 * 4, "non_2xx_3xx": 0,
            "socket_errors": socket_errors, "timeouts": socket_errors, "status_2xx": requests,
            "status_3xx": 0, "status_other": 0}


def page(rps: float, p50: float, **kwargs) -> dict:
    measured = wrk_result(rps, p50, **kwargs)
    return {"one_client": summary([measured]), "concurrent": summary([measured])}


def peer_result(ticket: dict) -> dict:
    return {
        "release": "django-helpdesk 2.6.1", "rounds": 3,
        "data": {"tickets": 1978, "followups": 5900, "open": 14, "queues": 6, "staff": 5,
                 "load_seconds": 0.5, "vacuum_analyze_seconds": 0.2},
        "in_process": {"list_html": {"queries_min": 10, "queries_max": 10},
                       "list_json": {"queries_min": 36, "queries_max": 36},
                       "ticket": {"queries_min": 38, "queries_max": 44}},
        "served_bytes": {"list_html": 40960, "list_json": 6144, "ticket": 45056},
        "console_served_bytes": {"queue": 30720, "case": 61440},
        "pages": {"queue": page(90, 25), "list_html": page(60, 20), "list_json": page(30, 40),
                  "case": page(50, 30), "ticket": ticket},
        "load_during": "load 3.1 2.5 2.0; top: 30 gunicorn"}


def results_1k() -> dict:
    """The committed 1k results, as a run without the peer row would leave them."""
    measured = json.loads((ROOT / "bench" / "results" / "1k.json").read_text())
    measured.pop("peer", None)
    return {"1k": measured}


def test_report_renders_results_measured_before_the_peer_row_without_its_section():
    assert "Peer: django-helpdesk" not in report.tables(results_1k())


def test_report_gives_every_round_of_the_baselines_measured_in_turns():
    results = results_1k()
    pages = results["1k"]["pages"]
    pages["baseline"]["rounds"], pages["baseline_staff"]["rounds"] = [800, 500], [600, 450]

    text = report.tables(results)

    assert "1k: 800 / 600 (0.75), 500 / 450 (0.90)." in text
    del pages["baseline"]["rounds"], pages["baseline_staff"]["rounds"]  # a run before turns
    assert "measured in turns" not in report.tables(results)


def test_report_puts_each_peer_page_beside_the_console_page_it_compares_with():
    results = results_1k()
    results["1k"]["peer"] = peer_result(ticket=page(25, 60))

    text = report.tables(results)

    assert "### Peer: django-helpdesk" in text
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines()
            if line.startswith("| django-helpdesk") or line.startswith("| Console:")}
    assert rows["django-helpdesk: ticket list, the JSON call that fills it (25 rows)"].endswith(
        "| 36 | 6 | 3.00 |")  # console queue 90 req/s ÷ 30
    # Opening the list is both requests: latencies add up, queries too, and the
    # pair's throughput is 1 / (1/60 + 1/30) = 20 req/s.
    both = rows["django-helpdesk: ticket list, HTML + JSON (what opening it costs)"]
    assert "| 60.0 / 120.0 / 180.0 | 20.0 |" in both and both.endswith("| 46 | 46 | 4.50 |")
    assert rows["django-helpdesk: ticket page, 500 different closed tickets (staff)"].endswith(
        "| 38–44 | 44 | 2.00 |")
    assert "1,978 tickets (14 open or reopened)" in text


def test_a_peer_page_that_never_answered_is_reported_as_timed_out_not_as_fast():
    results = results_1k()
    timed_out = wrk_result(0, 0, requests=0, socket_errors=8)
    results["1k"]["peer"] = peer_result(ticket={"one_client": summary([timed_out]),
                                                "concurrent": summary([timed_out] * 3)})

    row = next(line for line in report.tables(results).splitlines()
               if line.startswith("| django-helpdesk: ticket page"))

    assert "no answer (8 timed out or cut)" in row and row.endswith("| peer timed out |")


def test_rounds_are_summarised_by_their_median_and_errors_are_added_up():
    rounds = [wrk_result(10, 100), wrk_result(30, 50, socket_errors=2), wrk_result(20, 80)]

    measured = summary(rounds)

    assert (measured["rps"], measured["p50_ms"]) == (20, 80)
    assert measured["requests"] == 300 and measured["socket_errors"] == 2


def test_a_round_without_an_answer_counts_as_no_throughput_not_as_a_missing_round():
    rounds = [wrk_result(0, 0, requests=0, socket_errors=8), wrk_result(30, 50),
              wrk_result(20, 80)]

    measured = summary(rounds)

    assert measured["rps"] == 20 and measured["socket_errors"] == 8
    assert measured["p50_ms"] == 65  # over the two rounds that were answered


def test_the_peer_is_served_with_the_consoles_gunicorn_values(monkeypatch, tmp_path):
    # The console's file picks a metrics folder when it is read: give it one.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setenv("WEB_CONCURRENCY", "4")
    console = runpy.run_path(str(ROOT / "recovery_console" / "ops" / "gunicorn.py"))
    peer = runpy.run_path(str(ROOT / "bench" / "peer" / "gunicorn_conf.py"))

    for name in ("workers", "threads", "timeout", "graceful_timeout", "max_requests",
                 "max_requests_jitter", "accesslog", "forwarded_allow_ips"):
        assert peer[name] == console[name], name
    assert peer["workers"] == 4
    assert console["max_requests"] == 2000  # production recycles workers

    monkeypatch.setenv("WEB_MAX_REQUESTS", "0")  # the bench does not (bench.run.MAX_REQUESTS)
    console = runpy.run_path(str(ROOT / "recovery_console" / "ops" / "gunicorn.py"))
    peer = runpy.run_path(str(ROOT / "bench" / "peer" / "gunicorn_conf.py"))
    assert peer["max_requests"] == console["max_requests"] == 0


def test_the_peer_installs_a_pinned_release_with_hashes():
    requirements = (ROOT / "bench" / "peer" / "requirements.txt").read_text()
    pins = [line for line in requirements.splitlines() if "==" in line]

    assert any(line.startswith("django-helpdesk==") for line in pins)
    assert all("--hash=sha256:" in requirements.split(pin)[1].split("==")[0] for pin in pins)


def test_report_output_does_not_change_the_results_it_reads():
    results = results_1k()
    results["1k"]["peer"] = peer_result(ticket=page(25, 60))
    before = copy.deepcopy(results)

    report.tables(results)

    assert results == before
