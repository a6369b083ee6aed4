"""The auditor's dashboard: numbers over a range of UTC days, each chart's
numbers as a table and a CSV file, and horizontal SVG bar charts drawn on the
server (no script, no CDN).

Every figure comes from a fixed number of queries, however many cases the
range holds: the page and each CSV cost the same with ten cases or ten
thousand."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Count, Q
from django.utils.dateformat import format as format_date

from accounts.models import Identity
from recovery_console.models import InvolvementReview, RecoveryCase, Tier

from .models import Finding
from .sampling import cases_opened_between, moments_between

STATE = RecoveryCase.State
# Outcomes in the order an auditor reads them: the good one first.
DECIDED = (STATE.COMPLETED, STATE.DENIED, STATE.EXPIRED, STATE.CANCELLED, STATE.FAILED)
MAX_MONTHS = 36
CHARTS = ("months", "tiers", "outcomes", "agents", "repudiations")

# Chart geometry, in CSS pixels: the SVG is drawn at its own size (never
# scaled down on a desktop screen), so text at FONT is body-sized text.
FONT = 16
CHAR = 9  # a generous average width of one character at FONT
ROW, BAR = 36, 26  # a row's pitch and a bar's thickness
CHART_WIDTH = 640
VALUE_ROOM = 84  # room right of the longest bar for its value


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(day: date, months: int) -> date:
    """The first of the month ``months`` after (or before) ``day``'s month."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def months_between(start: date, end: date) -> list[date]:
    """The first day of every month from ``start``'s to ``end``'s, both included."""
    count = (end.year - start.year) * 12 + end.month - start.month + 1
    return [add_months(start, i) for i in range(max(count, 0))]


def default_range(today: date) -> tuple[date, date]:
    """The last twelve months: from the first of the month eleven months ago
    to today, so every month on the chart but this one is whole."""
    return add_months(today, -11), today


def presets(today: date) -> list[tuple[str, str]]:
    """Ranges an auditor asks for most, as (name, query string)."""
    last_year = today.year - 1
    ranges = [("Last 12 months", *default_range(today)),
              ("This year", date(today.year, 1, 1), today),
              ("Last year", date(last_year, 1, 1), date(last_year, 12, 31))]
    return [(name, f"start={start.isoformat()}&end={end.isoformat()}")
            for name, start, end in ranges]


def month_label(month: date) -> str:
    return format_date(month, "M Y")


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str  # the value as shown at the end of the bar
    group: str = ""  # bars of one group are drawn under its heading


@dataclass(frozen=True)
class Chart:
    """One figure of the dashboard: a bar chart (when it has bars), the same
    numbers as a table, and as a CSV file (``columns`` then ``csv_rows``)."""

    slug: str
    title: str
    description: str  # one sentence for the chart's <desc>
    columns: tuple[str, ...]
    rows: list[tuple]  # the table, as shown
    csv_rows: list[tuple]  # the CSV file: like rows, but for a spreadsheet
    bars: list[Bar] = field(default_factory=list)
    empty: str = "Nothing in this range."

    @property
    def drawing(self) -> dict:
        return draw(self.bars)


def _text_width(text: str) -> int:
    return len(text) * CHAR


def draw(bars: list[Bar]) -> dict:
    """Geometry of a horizontal bar chart: a heading line before each new
    group, then one row per bar with its label, its bar and its value."""
    # Wide enough for the longest label, and the same for most charts (they line up).
    label_width = max([_text_width(b.label) + 28 for b in bars] + [120])
    span = CHART_WIDTH - label_width - VALUE_ROOM
    top = max((b.value for b in bars), default=0) or 1
    rows, y, group = [], 0, None
    for bar in bars:
        if bar.group and bar.group != group:
            rows.append({"heading": bar.group, "y": y, "text_y": y + ROW // 2})
            y += ROW
        group = bar.group
        width = round(span * bar.value / top)
        rows.append({"bar": bar, "y": y + (ROW - BAR) // 2, "width": width,
                     "text_y": y + ROW // 2, "value_x": label_width + width + 8})
        y += ROW
    return {"rows": rows, "width": CHART_WIDTH, "height": max(y, ROW),
            "label_width": label_width, "label_x": label_width - 10, "bar_height": BAR}


def _hours(delta: timedelta) -> float:
    return round(delta.total_seconds() / 3600, 1)


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _label(choices, value: str) -> str:
    return dict(choices).get(value, value or "—")


def summary(start: date, end: date) -> dict:
    """Everything the dashboard shows for cases opened from ``start`` to
    ``end`` (UTC days, both included), and the repudiations made on those
    days, in five queries."""
    cases = cases_opened_between(start, end)
    rows = list(cases.values_list(
        "opened_at", "tier", "identity__kind", "state", "verified_at", "closed_at",
        "agent__username", "agent__first_name", "agent__last_name"))
    approvals = cases.aggregate(
        approved=Count("approvals", filter=Q(approvals__decision="approve")),
        denied=Count("approvals", filter=Q(approvals__decision="deny")),
    )
    per_month, per_tier_kind, states = Counter(), Counter(), Counter()
    verify, complete = [], []
    agent_verify: dict[str, list[float]] = defaultdict(list)
    names: dict[str, str] = {}
    for opened, tier, kind, state, verified, closed, agent, first, last in rows:
        per_month[month_start(opened.date())] += 1
        per_tier_kind[(tier, kind)] += 1
        states[state] += 1
        if verified:
            verify.append(_hours(verified - opened))
            if agent:
                agent_verify[agent].append(_hours(verified - opened))
                names[agent] = f"{first} {last}".strip() or agent
        if state == STATE.COMPLETED and closed:
            complete.append(_hours(closed - opened))
    decided = sum(states[s] for s in DECIDED)
    agents = outlying_agents(agent_verify, names, cases)
    repudiated = repudiated_staff(start, end)
    return {
        "total": len(rows),
        "decided": decided,
        "approvals": approvals,
        "median_verify_hours": _median(verify),
        "median_complete_hours": _median(complete),
        "agents": agents,
        "repudiated": repudiated,
        "charts": {
            "months": months_chart(start, end, per_month),
            "tiers": tiers_chart(per_tier_kind),
            "outcomes": outcomes_chart(states, decided),
            "agents": agents_table(agents),
            "repudiations": repudiations_chart(repudiated),
        },
    }


def months_chart(start: date, end: date, per_month: Counter) -> Chart:
    months = months_between(start, end)
    counts = [(month, per_month[month]) for month in months]
    busiest = max(counts, key=lambda mc: mc[1])
    none = sum(1 for _, n in counts if n == 0)
    description = (
        f"One bar per month from {month_label(months[0])} to {month_label(months[-1])}: "
        f"{sum(n for _, n in counts)} cases in all"
        + (f", most in {month_label(busiest[0])} ({busiest[1]})" if busiest[1] else "")
        + (f"; {none} month{'s' if none != 1 else ''} with none." if none else "."))
    return Chart(
        slug="months", title="Recovery cases opened per month", description=description,
        columns=("Month", "Cases opened"),
        rows=[(month_label(m), n) for m, n in counts],
        csv_rows=[(m.strftime("%Y-%m"), n) for m, n in counts],
        bars=[Bar(month_label(m), n, str(n)) for m, n in counts],
    )


def tiers_chart(per_tier_kind: Counter) -> Chart:
    """Cases per identity kind, grouped by risk tier, both in their models' order."""
    tiers, kinds = list(Tier.values), list(Identity.Kind.values)

    def order(pair):
        tier, kind = pair
        return (tiers.index(tier) if tier in tiers else len(tiers),
                kinds.index(kind) if kind in kinds else len(kinds), tier, kind)

    present = [(_label(Tier.choices, t), _label(Identity.Kind.choices, k), per_tier_kind[t, k])
               for t, k in sorted(per_tier_kind, key=order)]
    busiest = max(present, key=lambda row: row[2], default=None)
    description = ("Bars per identity kind, grouped under each risk tier"
                   + (f"; most were {busiest[1]} at {busiest[0]} tier ({busiest[2]})."
                      if busiest else "."))
    return Chart(
        slug="tiers", title="Recovery cases per risk tier and identity kind",
        description=description, columns=("Risk tier", "Identity kind", "Cases opened"),
        rows=present, csv_rows=present,
        bars=[Bar(kind, n, str(n), group=f"{tier} tier") for tier, kind, n in present],
        empty="No cases were opened in this range.",
    )


def outcomes_chart(states: Counter, decided: int) -> Chart:
    shares = [(_label(STATE.choices, s), states[s],
               round(100 * states[s] / decided, 1) if decided else 0.0) for s in DECIDED]
    description = (f"Share of the {decided} decided cases by outcome: "
                   + ", ".join(f"{label} {share:g}%" for label, _, share in shares) + ".")
    return Chart(
        slug="outcomes", title="Outcomes of decided cases", description=description,
        columns=("Outcome", "Cases", "Share of decided (%)"),
        rows=[(label, n, f"{share:g}%") for label, n, share in shares],
        csv_rows=shares,
        bars=[Bar(label, share, f"{share:g}%") for label, _, share in shares] if decided else [],
        empty="No case opened in this range has been decided yet.",
    )


def agents_table(agents: list[dict]) -> Chart:
    """A table, not a chart: the page marks who stands out; its CSV is this."""
    rows = [(a["name"], a["agent"], a["cases"], a["median_verify_hours"], a["speed_ratio"],
             a["findings"], a["issues"], "yes" if a["stands_out"] else "no") for a in agents]
    return Chart(
        slug="agents", title="Agents: speed against findings",
        description="Agents whose speed stands out, or whose cases had issues.",
        columns=("Agent", "Username", "Verified cases", "Median hours to verify",
                 "Speed against everyone", "Findings", "Issues", "Look closer"),
        rows=rows, csv_rows=rows,
    )


def outlying_agents(agent_verify: dict[str, list[float]], names: dict[str, str],
                    cases) -> list[dict]:
    """Agents whose median time to verify is far from everyone's, with the
    findings on their cases: a fast agent with issues found is worth a look."""
    everyone = _median([h for hours in agent_verify.values() for h in hours])
    findings, issues = Counter(), Counter()
    for agent, verdict in Finding.objects.filter(sampled__case__in=cases).values_list(
            "sampled__case__agent__username", "verdict"):
        findings[agent] += 1
        issues[agent] += verdict == Finding.Verdict.ISSUE
    rows = []
    for agent, hours in sorted(agent_verify.items()):
        median = _median(hours)
        ratio = round(median / everyone, 2) if everyone else None
        rows.append({"agent": agent, "name": names[agent], "cases": len(hours),
                     "median_verify_hours": median, "speed_ratio": ratio,
                     "findings": findings[agent], "issues": issues[agent],
                     "stands_out": bool(ratio is not None and (ratio < 0.5 or ratio > 2)
                                        or issues[agent])})
    return rows


REVIEW_ROLES = InvolvementReview.Role


def repudiated_staff(start: date, end: date) -> list[dict]:
    """Staff marked for review after a repudiation made from ``start`` to
    ``end`` (UTC days): per person, how many repudiated recoveries they took
    part in, in which part, and how many of those reviews are still open.
    Most repudiations first. One query."""
    since, until = moments_between(start, end)
    people: dict[str, dict] = {}
    for username, first, last, roles, closed in InvolvementReview.objects.filter(
            created_at__gte=since, created_at__lt=until).values_list(
            "staff__username", "staff__first_name", "staff__last_name", "roles", "closed_at"):
        row = people.setdefault(username, {
            "agent": username, "name": f"{first} {last}".strip() or username, "cases": 0,
            "open": 0, **dict.fromkeys(REVIEW_ROLES.values, 0)})
        row["cases"] += 1
        row["open"] += closed is None
        for role in roles if isinstance(roles, list) else ():
            if role in REVIEW_ROLES.values:
                row[role] += 1
    return sorted(people.values(), key=lambda row: (-row["cases"], row["agent"]))


def repudiations_chart(people: list[dict]) -> Chart:
    rows = [(p["name"], p["agent"], p["cases"], p[REVIEW_ROLES.WORKED],
             p[REVIEW_ROLES.APPROVED], p[REVIEW_ROLES.ISSUED], p[REVIEW_ROLES.OPENED], p["open"])
            for p in people]
    total = sum(p["cases"] for p in people)
    description = (f"One bar per staff member who took part in a recovery the person "
                   f"repudiated: {len(people)} people, {total} reviews"
                   + (f"; most: {people[0]['name']} ({people[0]['cases']})." if people else "."))
    return Chart(
        slug="repudiations", title="Staff with repudiations", description=description,
        columns=("Staff member", "Username", "Repudiated recoveries", "Worked", "Approved",
                 "Issued", "Opened", "Reviews still open"),
        rows=rows, csv_rows=rows,
        bars=[Bar(p["name"], p["cases"], str(p["cases"])) for p in people],
        empty="Nobody answered “this wasn't me” to a recovery in this range.",
    )
