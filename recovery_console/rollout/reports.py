"""Readiness reports: for the whole organisation or one cohort, who has a
passkey (and how recently they used it), who has a usable backup recovery
channel, who has nothing, which privileged people are not ready yet, and
the trend from the daily snapshots. Also, per wave, enrolment progress
beside the recovery load its members put on the help desk.

"Ready" is ``readiness``'s definition, never a second one. Every figure
costs a fixed number of queries, whatever the number of identities: the
counts are aggregates, the trend reads the snapshots, the list of
privileged people is paged."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db import transaction
from django.db.models import (
    Case,
    Count,
    FilteredRelation,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils.dateformat import format as format_date

from accounts.models import Identity, PasskeyCredential
from audit.dashboard import Bar, Chart

from .models import Cohort, ReadinessSnapshot, Wave
from .readiness import Counts, channel_age, counts, members, with_readiness

# Passkey recency: since its last use, the most recent of the person's live passkeys.
RECENCY = (
    ("week", "Used in the last 7 days", 7),
    ("month", "Used 8–30 days ago", 30),
    ("quarter", "Used 31–90 days ago", 90),
)
RECENCY_OLDER = ("older", "Used over 90 days ago")
RECENCY_NEVER = ("never", "Passkey never used")
RECENCY_NONE = ("none", "No passkey")
TREND_WEEKS = 12
LOAD_DAYS = 7  # the recovery load of a wave: cases opened per day, the last week
PANEL_WAVES = 10  # the auditor's dashboard lists at most this many active waves
CHARTS = ("readiness", "recency", "ready_trend", "passkey_trend", "nothing_trend")


def population(cohort: Cohort | None) -> QuerySet[Identity]:
    """The cohort's members now, or every active identity (the organisation)."""
    return members(cohort) if cohort is not None else Identity.objects.filter(is_active=True)


def utc_day(now: datetime) -> date:
    return now.astimezone(UTC).date()


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def percent(count: int, total: int) -> float:
    """``count`` of ``total`` as a percentage with one decimal (0 of none)."""
    return round(100 * count / total, 1) if total else 0.0


# --- passkey recency ---------------------------------------------------------

@dataclass(frozen=True)
class Recency:
    """How many members last used a passkey in each period; every member
    falls in exactly one bucket (``none``: no live passkey)."""

    week: int
    month: int
    quarter: int
    older: int
    never: int
    none: int

    @property
    def members(self) -> int:
        return sum(asdict(self).values())

    def buckets(self) -> list[tuple[str, str, int]]:
        """(slug, label, count) in reading order: the most recent first."""
        labels = [(slug, label) for slug, label, _ in RECENCY]
        labels += [RECENCY_OLDER, RECENCY_NEVER, RECENCY_NONE]
        return [(slug, label, getattr(self, slug)) for slug, label in labels]


def recency(identities: QuerySet[Identity], now: datetime) -> Recency:
    """Members by when they last used a live passkey, in one query: each
    member's bucket is worked out by one lookup of their passkeys, then the
    members are counted per bucket."""
    edges = [(slug, now - timedelta(days=days)) for slug, _, days in RECENCY]
    bucket = (PasskeyCredential.objects
              .filter(user_id=OuterRef("user_id"), revoked_at__isnull=True)
              .order_by().values("user_id").annotate(last=Max("last_used_at"))
              .annotate(bucket=Case(
                  When(last__isnull=True, then=Value(RECENCY_NEVER[0])),
                  *[When(last__gte=edge, then=Value(slug)) for slug, edge in edges],
                  default=Value(RECENCY_OLDER[0])))
              .values("bucket"))
    groups = (identities.order_by()
              .annotate(bucket=Coalesce(Subquery(bucket), Value(RECENCY_NONE[0])))
              .values_list("bucket").annotate(n=Count("pk")))
    found = dict.fromkeys(Recency.__dataclass_fields__, 0)
    found.update(dict(groups))
    return Recency(**found)


# --- privileged people not ready ---------------------------------------------

def privileged_not_ready(identities: QuerySet[Identity], now: datetime) -> QuerySet[Identity]:
    """The privileged members missing a passkey or a usable channel, by name;
    each row says which they lack (``has_passkey``, ``has_channel``)."""
    return (with_readiness(identities.filter(privileged=True), now)
            .filter(Q(has_passkey=False) | Q(has_channel=False))
            .order_by("display_name", "pk")
            .only("pk", "display_name", "directory_id", "kind", "department"))


# --- daily snapshots and the trend -------------------------------------------

def take_snapshots(now: datetime) -> int:
    """Keep today's (UTC) readiness counts of the organisation and of every
    cohort. Taking them again the same day updates that day's rows: the
    task may run twice, or late, and each day keeps one point per cohort."""
    day = utc_day(now)
    taken = 0
    for cohort in [None, *Cohort.objects.order_by("pk")]:
        figures = asdict(counts(population(cohort), now))
        with transaction.atomic():
            ReadinessSnapshot.objects.update_or_create(day=day, cohort=cohort, defaults=figures)
        taken += 1
    return taken


@dataclass(frozen=True)
class TrendPoint:
    """One week of the trend: its last snapshot (``None`` if none was taken)."""

    week: date  # the Monday the week starts
    snapshot: ReadinessSnapshot | None

    @property
    def label(self) -> str:
        return f"Week of {format_date(self.week, 'j M')}"


def trend(cohort: Cohort | None, today: date, weeks: int = TREND_WEEKS) -> list[TrendPoint]:
    """The last ``weeks`` weeks up to ``today``, oldest first, each with the
    latest snapshot taken in it, in one query."""
    first = today - timedelta(days=today.weekday(), weeks=weeks - 1)
    snapshots = ReadinessSnapshot.objects.filter(day__gte=first, day__lte=today)
    snapshots = snapshots.filter(cohort=cohort) if cohort else snapshots.filter(
        cohort__isnull=True)
    latest: dict[date, ReadinessSnapshot] = {}
    for snapshot in snapshots.order_by("day"):
        latest[snapshot.day - timedelta(days=snapshot.day.weekday())] = snapshot
    return [TrendPoint(week, latest.get(week))
            for week in (first + timedelta(weeks=i) for i in range(weeks))]


# --- the report and its charts -----------------------------------------------

def _share_text(share: float) -> str:
    return f"{share:g}%"


def readiness_chart(now_counts: Counts) -> Chart:
    c = now_counts
    lines = [("With a passkey", c.with_passkey), ("With a usable recovery channel", c.with_channel),
             ("Ready (both)", c.ready), ("With nothing", c.with_nothing)]
    shares = [(label, n, percent(n, c.members)) for label, n in lines]
    return Chart(
        slug="readiness", title="Readiness now",
        description=(f"Share of the {c.members} members with a passkey, with a usable recovery "
                     "channel, with both (ready) and with neither: "
                     + ", ".join(f"{label.lower()} {_share_text(s)}" for label, _, s in shares)
                     + "."),
        columns=("Members", "Count", "Share (%)"),
        rows=[(label, n, _share_text(s)) for label, n, s in shares],
        csv_rows=shares,
        bars=[Bar(label, s, _share_text(s)) for label, _, s in shares] if c.members else [],
        empty="Nobody is in this population.")


def recency_chart(found: Recency) -> Chart:
    total = found.members
    shares = [(label, n, percent(n, total)) for _, label, n in found.buckets()]
    return Chart(
        slug="recency", title="Passkey last used",
        description=(f"The {total} members by when they last used a passkey: "
                     + ", ".join(f"{label.lower()} {_share_text(s)}" for label, _, s in shares)
                     + "."),
        columns=("Passkey", "Members", "Share (%)"),
        rows=[(label, n, _share_text(s)) for label, n, s in shares],
        csv_rows=shares,
        bars=[Bar(label, s, _share_text(s)) for label, _, s in shares] if total else [],
        empty="Nobody is in this population.")


TREND_FIGURES = {
    "ready_trend": ("ready", "Members ready, week by week", "Ready"),
    "passkey_trend": ("with_passkey", "Members with a passkey, week by week", "With a passkey"),
    "nothing_trend": ("with_nothing", "Members with nothing, week by week", "With nothing"),
}


def trend_chart(slug: str, points: list[TrendPoint]) -> Chart:
    field, title, counted = TREND_FIGURES[slug]
    rows, csv_rows, bars = [], [], []
    for point in points:
        s = point.snapshot
        week = format_date(point.week, "j M")
        if s is None:
            rows.append((week, "none", "—", "—", "—"))
            csv_rows.append((point.week.isoformat(), "", "", "", ""))
            bars.append(Bar(point.label, 0, "no snapshot"))
            continue
        share = percent(getattr(s, field), s.members)
        rows.append((week, format_date(s.day, "j M"), s.members, getattr(s, field),
                     _share_text(share)))
        csv_rows.append((point.week.isoformat(), s.day.isoformat(), s.members,
                         getattr(s, field), share))
        bars.append(Bar(point.label, share, _share_text(share)))
    taken = [p for p in points if p.snapshot is not None]
    description = (f"One bar per week over the last {len(points)} weeks: the share of members "
                   f"{counted.lower()} on the week's last snapshot")
    if taken:
        first, last = taken[0].snapshot, taken[-1].snapshot
        description += (f", from {_share_text(percent(getattr(first, field), first.members))} "
                        f"to {_share_text(percent(getattr(last, field), last.members))}")
    missing = len(points) - len(taken)
    description += (f"; {missing} week{'s' if missing != 1 else ''} without a snapshot."
                    if missing else ".")
    return Chart(
        slug=slug, title=title, description=description,
        columns=("Week of", "Snapshot", "Members", counted, "Share (%)"),
        rows=rows, csv_rows=csv_rows, bars=bars if taken else [],
        empty="No snapshot was taken in these weeks yet (one is taken every day).")


@dataclass(frozen=True)
class Report:
    cohort: Cohort | None
    counts: Counts
    recency: Recency
    charts: dict[str, Chart]

    @property
    def title(self) -> str:
        return self.cohort.name if self.cohort else "Whole organisation"


def report(cohort: Cohort | None, now: datetime) -> Report:
    """The readiness report of ``cohort`` (``None``: the organisation), in
    three queries: the counts, the recency, the trend."""
    people = population(cohort)
    now_counts = counts(people, now)
    found = recency(people, now)
    points = trend(cohort, utc_day(now))
    charts = {"readiness": readiness_chart(now_counts), "recency": recency_chart(found),
              **{slug: trend_chart(slug, points) for slug in TREND_FIGURES}}
    return Report(cohort, now_counts, found, charts)


# --- waves: enrolment progress beside recovery load --------------------------

@dataclass(frozen=True)
class WaveProgress:
    """A wave's members and how far they are, beside the recovery cases they
    opened on each of the last days and how many needed a supervisor."""

    wave: Wave
    members: int
    with_passkey: int
    ready: int
    days: list[tuple[date, int]]  # (UTC day, cases opened), oldest first
    supervised: int

    @property
    def passkey_share(self) -> float:
        return percent(self.with_passkey, self.members)

    @property
    def ready_share(self) -> float:
        return percent(self.ready, self.members)

    @property
    def cases(self) -> int:
        return sum(n for _, n in self.days)

    @property
    def supervised_share(self) -> float | None:
        return percent(self.supervised, self.cases) if self.cases else None

    @property
    def daily_limit(self) -> int:
        return self.wave.plan.daily_case_limit

    @property
    def busiest(self) -> int:
        return max((n for _, n in self.days), default=0)

    @property
    def load_rows(self) -> list[dict]:
        """The days for a table: newest first, each against the plan's limit."""
        # A UTC calendar day (the caption says so), named here: pages format
        # instants only through the viewer's zone, and a day is no instant.
        return [{"day": day, "label": f"{day:%a} {day.day} {day:%b}", "cases": n,
                 "over": n > self.daily_limit}
                for day, n in reversed(self.days)]


def needed_a_supervisor() -> Q:
    """A case whose frozen rules asked a supervisor's approval (raised by an
    escalation too), relative to a case relation named ``recent``."""
    return (Q(recent__policy_snapshot__approvals_required__gt=0)
            | Q(recent__escalated_at__isnull=False))


def wave_progress(wave: Wave, now: datetime, max_age: timedelta | None = None) -> WaveProgress:
    """Enrolment progress of ``wave``'s members (its cohort's now) and the
    recovery cases they opened on each of the last LOAD_DAYS UTC days, today
    included, in one query (and one for the channels' age unless given:
    ``readiness.channel_age()``)."""
    today = utc_day(now)
    days = [today - timedelta(days=n) for n in range(LOAD_DAYS - 1, -1, -1)]
    since, until = _day_start(days[0]), _day_start(today + timedelta(days=1))
    rows = with_readiness(members(wave.cohort), now, max_age).annotate(recent=FilteredRelation(
        "recovery_cases", condition=Q(recovery_cases__opened_at__gte=since,
                                      recovery_cases__opened_at__lt=until)))
    # A member with several recent cases is several rows: members count
    # distinct. Grouped by what members have, so each member's passkey and
    # channel are looked up once (filtered counts on them would repeat it).
    figures = {
        "members": Count("pk", distinct=True),
        "supervised": Count("recent", filter=needed_a_supervisor()),
        **{f"day_{i}": Count("recent", filter=Q(recent__opened_at__gte=_day_start(day),
                                                 recent__opened_at__lt=_day_start(
                                                     day + timedelta(days=1))))
           for i, day in enumerate(days)},
    }
    found = dict.fromkeys(["with_passkey", "ready", *figures], 0)
    for group in rows.order_by().values("has_passkey", "has_channel").annotate(
            **{f"n_{name}": rule for name, rule in figures.items()}):
        for name in figures:
            found[name] += group[f"n_{name}"]
        found["with_passkey"] += group["n_members"] if group["has_passkey"] else 0
        found["ready"] += group["n_members"] if group["has_passkey"] and group[
            "has_channel"] else 0
    return WaveProgress(
        wave=wave, members=found["members"], with_passkey=found["with_passkey"],
        ready=found["ready"], supervised=found["supervised"],
        days=[(day, found[f"day_{i}"]) for i, day in enumerate(days)])


def active_waves(now: datetime, limit: int = PANEL_WAVES) -> tuple[list[WaveProgress], bool]:
    """The first ``limit`` active waves (inviting, report-only, enforcing) in
    plan order, each with its progress, and whether more exist: two queries,
    and one per wave listed."""
    waves = list(Wave.objects.filter(stage__in=[
        Wave.Stage.INVITE, Wave.Stage.REPORT_ONLY, Wave.Stage.ENFORCE])
        .select_related("plan", "cohort").order_by("plan__name", "position")[:limit + 1])
    if not waves:
        return [], False
    max_age = channel_age()
    return ([wave_progress(wave, now, max_age) for wave in waves[:limit]],
            len(waves) > limit)
