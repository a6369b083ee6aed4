"""The auditor's dashboard: numbers over a period, and simple SVG bar charts
drawn on the server (no script, no CDN)."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Count, Q

from recovery_console.models import RecoveryCase

from .models import Finding
from .sampling import cases_opened_between

CHART_WIDTH, BAR_HEIGHT, LABEL_WIDTH = 560, 22, 150
STATE = RecoveryCase.State
DECIDED = (STATE.COMPLETED, STATE.DENIED, STATE.EXPIRED, STATE.CANCELLED, STATE.FAILED)


@dataclass
class Bar:
    label: str
    value: float
    y: int
    width: int
    text: str


def bars(pairs: list[tuple[str, float]], unit: str = "") -> dict:
    """Geometry for a horizontal bar chart of (label, value) pairs."""
    top = max((v for _, v in pairs), default=0) or 1
    span = CHART_WIDTH - LABEL_WIDTH - 60
    rows = [Bar(label, value, i * (BAR_HEIGHT + 8), round(span * value / top),
                f"{value:g}{unit}") for i, (label, value) in enumerate(pairs)]
    return {"bars": rows, "height": max(len(rows), 1) * (BAR_HEIGHT + 8),
            "width": CHART_WIDTH, "label_width": LABEL_WIDTH, "bar_height": BAR_HEIGHT}


def _hours(delta: timedelta | None) -> float | None:
    return round(delta.total_seconds() / 3600, 1) if delta is not None else None


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def summary(start: date, end: date) -> dict:
    cases = cases_opened_between(start, end)
    by_month = Counter()
    per_tier_kind = Counter()
    rows = list(cases.values_list("opened_at", "tier", "identity__kind", "state",
                                  "verified_at", "closed_at", "agent__username"))
    verify, complete = [], []
    agent_verify: dict[str, list[float]] = defaultdict(list)
    for opened, tier, kind, state, verified, closed, agent in rows:
        by_month[opened.strftime("%Y-%m")] += 1
        per_tier_kind[(tier, kind)] += 1
        if verified:
            verify.append(_hours(verified - opened))
            if agent:
                agent_verify[agent].append(_hours(verified - opened))
        if state == STATE.COMPLETED and closed:
            complete.append(_hours(closed - opened))
    decided = Counter(row[3] for row in rows if row[3] in DECIDED)
    total_decided = sum(decided.values()) or 1
    rates = {name: round(100 * decided[state] / total_decided, 1) for name, state in
             [("completed", STATE.COMPLETED), ("denied", STATE.DENIED),
              ("expired", STATE.EXPIRED), ("cancelled", STATE.CANCELLED),
              ("failed", STATE.FAILED)]}
    approvals = cases.aggregate(
        approved=Count("approvals", filter=Q(approvals__decision="approve")),
        denied=Count("approvals", filter=Q(approvals__decision="deny")),
    )
    return {
        "total": len(rows),
        "by_month": sorted(by_month.items()),
        "by_tier_kind": sorted((f"{tier} · {kind}", n) for (tier, kind), n in
                               per_tier_kind.items()),
        "rates": rates,
        "approvals": approvals,
        "median_verify_hours": _median(verify),
        "median_complete_hours": _median(complete),
        "agents": outlying_agents(agent_verify, start, end),
    }


def outlying_agents(agent_verify: dict[str, list[float]], start: date, end: date) -> list[dict]:
    """Agents whose median time to verify is far from everyone's, with their
    findings: a fast agent with issues found is worth a look."""
    everyone = _median([h for hours in agent_verify.values() for h in hours])
    issues = Counter(Finding.objects.filter(
        sampled__case__opened_at__date__range=(start, end), verdict=Finding.Verdict.ISSUE,
    ).values_list("sampled__case__agent__username", flat=True))
    findings = Counter(Finding.objects.filter(
        sampled__case__opened_at__date__range=(start, end),
    ).values_list("sampled__case__agent__username", flat=True))
    rows = []
    for agent, hours in sorted(agent_verify.items()):
        median = _median(hours)
        ratio = round(median / everyone, 2) if everyone else None
        rows.append({"agent": agent, "cases": len(hours), "median_verify_hours": median,
                     "speed_ratio": ratio, "findings": findings[agent], "issues": issues[agent],
                     "stands_out": bool(ratio is not None and (ratio < 0.5 or ratio > 2)
                                        or issues[agent])})
    return rows
