"""Sampling reports: drawing a reproducible stratified sample of recovery
cases, and recording an auditor's finding on each sampled case."""

from __future__ import annotations

import math
import random
import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest

from accounts.models import Identity, User
from accounts.roles import Role, roles_of
from recovery_console.models import InvolvementReview, RecoveryCase, Tier

from .events import record
from .models import Finding, SampledCase, SamplingReport

STRATUM_FIELDS = {
    SamplingReport.Stratum.TIER: "tier",
    SamplingReport.Stratum.AGENT: "agent__username",
    SamplingReport.Stratum.KIND: "identity__kind",
    SamplingReport.Stratum.OUTCOME: "state",
    # Read as the agent's id, then "yes" or "no" (``_repudiation_values``).
    SamplingReport.Stratum.REPUDIATION: "agent_id",
}
# What the stored values of each stratum read as (the agent is their username).
STRATUM_VALUE_LABELS = {
    SamplingReport.Stratum.TIER: dict(Tier.choices),
    SamplingReport.Stratum.KIND: dict(Identity.Kind.choices),
    SamplingReport.Stratum.OUTCOME: dict(RecoveryCase.State.choices),
    SamplingReport.Stratum.REPUDIATION: {"yes": "Yes", "no": "No"},
}
# A stratum value whose cases are all drawn before the others share the rest.
OVER_SAMPLED = f"{SamplingReport.Stratum.REPUDIATION}=yes"
MAX_SAMPLE = 10_000


class SamplingError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class SampleRequest:
    title: str
    period_start: date
    period_end: date
    sample_size: int | None = None
    sample_rate: Decimal | None = None
    strata: tuple[str, ...] = ()
    seed: int | None = None
    include_open: bool = False


def _day_after(end: date) -> datetime:
    return datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)


def moments_between(start: date, end: date) -> tuple[datetime, datetime]:
    """From the start of ``start`` to the end of ``end`` (UTC days): the first
    moment in, the first moment out."""
    return datetime.combine(start, time.min, tzinfo=UTC), _day_after(end)


def cases_opened_between(start: date, end: date):
    """Cases opened from the start of ``start`` to the end of ``end`` (UTC)."""
    since, until = moments_between(start, end)
    return RecoveryCase.objects.filter(opened_at__gte=since, opened_at__lt=until)


def agents_with_repudiations(end: date) -> set[int]:
    """Staff marked for review after a repudiation made up to the end of
    ``end`` (UTC), whatever the review's outcome: in the period or before it.
    Fixed once the period is over, so a report drawn again with its seed
    draws the same cases."""
    return set(InvolvementReview.objects.filter(created_at__lt=_day_after(end))
               .values_list("staff_id", flat=True).distinct())


def review_progress(report: SamplingReport) -> dict[str, int]:
    """How far the review of ``report`` has come, in one query: sampled cases
    in all, reviewed or not yet, and those found OK or with an issue."""
    counts = report.sampled.aggregate(
        total=Count("pk"), reviewed=Count("finding"),
        ok=Count("finding", filter=Q(finding__verdict=Finding.Verdict.OK)),
        issue=Count("finding", filter=Q(finding__verdict=Finding.Verdict.ISSUE)))
    return {"total": counts["total"], "unreviewed": counts["total"] - counts["reviewed"],
            "reviewed": counts["reviewed"], "ok": counts["ok"], "issue": counts["issue"],
            "percent": round(100 * counts["reviewed"] / counts["total"]) if counts["total"]
            else 0}


def sampled_cases(report: SamplingReport, finding: str = "") -> QuerySet[SampledCase]:
    """The sampled cases of ``report`` in the order drawn, with what their
    rows show; ``finding`` keeps those not reviewed yet (``"unreviewed"``),
    or those with that verdict."""
    rows = (report.sampled.select_related("case__identity", "case__agent", "finding__auditor")
            .order_by("position"))
    if finding == "unreviewed":
        return rows.filter(finding__isnull=True)
    if finding:
        return rows.filter(finding__verdict=finding)
    return rows


def report_rows(report: SamplingReport, finding: str = "") -> list[SampledCase]:
    """``sampled_cases`` for a page: each with its stratum in words."""
    rows = list(sampled_cases(report, finding))
    for row in rows:
        row.stratum_label = stratum_label(row.stratum)
    return rows


def stratum_label(stratum: str) -> str:
    """A stored stratum ("tier=low · outcome=completed") as people read it
    ("Risk tier: Low · Outcome: Completed"). The stored form stays as it is:
    it seeds the draw, and the CSV export gives it to auditors' tools."""
    parts = []
    for part in filter(None, stratum.split(" · ")):
        name, _, value = part.partition("=")
        if name in SamplingReport.Stratum.values:
            value = STRATUM_VALUE_LABELS.get(name, {}).get(value, value)
            part = f"{SamplingReport.Stratum(name).label}: {value}"
        parts.append(part)
    return " · ".join(parts)


def draw_sample(auditor: User, wanted: SampleRequest, *,
                request: HttpRequest | None = None) -> SamplingReport:
    """Draw and store a sample. Only auditors may; the same inputs and seed
    always give the same cases. Only closed cases are drawn (an open case's
    story is not finished: nothing to review yet) unless ``include_open``."""
    _require_auditor(auditor)
    strata = _validate(wanted)
    fields = [STRATUM_FIELDS[s] for s in strata]
    opened = cases_opened_between(wanted.period_start, wanted.period_end)
    population = opened if wanted.include_open else opened.exclude(
        state__in=RecoveryCase.OPEN_STATES)
    rows = list(population.order_by("pk").values_list("pk", *fields))
    if SamplingReport.Stratum.REPUDIATION in strata:
        rows = _repudiation_values(rows, strata.index(SamplingReport.Stratum.REPUDIATION),
                                   agents_with_repudiations(wanted.period_end))
    if not rows:
        if opened.exists():
            raise SamplingError("Every case opened in this period is still open: tick "
                                "“Include open cases” or choose another period.")
        raise SamplingError("No recovery cases were opened in this period: choose another one.")
    size = wanted.sample_size or math.ceil(Decimal(len(rows)) * wanted.sample_rate)
    if size > len(rows):
        which = "" if wanted.include_open else " (closed cases only)"
        raise SamplingError(f"The sample size ({size}) is larger than the {len(rows)} cases "
                            f"opened in this period{which}.")
    seed = wanted.seed if wanted.seed is not None else secrets.randbits(62)
    groups: dict[str, list[int]] = defaultdict(list)
    for pk, *values in rows:
        groups[_stratum_label(strata, values)].append(pk)
    chosen = _stratified(groups, size, seed)
    with transaction.atomic():
        report = SamplingReport.objects.create(
            title=wanted.title, created_by=auditor, period_start=wanted.period_start,
            period_end=wanted.period_end, sample_size=wanted.sample_size,
            sample_rate=wanted.sample_rate, strata=list(strata), seed=seed, population=len(rows),
            include_open=wanted.include_open,
        )
        SampledCase.objects.bulk_create(
            SampledCase(report=report, case_id=pk, stratum=label, position=i)
            for i, (label, pk) in enumerate(chosen, start=1)
        )
        record("sample_drawn", target=report, actor=auditor, request=request, seed=seed,
               population=len(rows), sampled=len(chosen), strata=list(strata),
               over_sampled=sum(1 for label, _ in chosen if OVER_SAMPLED in label),
               include_open=wanted.include_open,
               period=[wanted.period_start.isoformat(), wanted.period_end.isoformat()])
    return report


def record_finding(auditor: User, report: SamplingReport, case_id: int, verdict: str,
                   note: str, *, request: HttpRequest | None = None) -> Finding:
    """Record (or replace) the auditor's finding on one case of ``report``."""
    _require_auditor(auditor)
    sampled = SampledCase.objects.filter(report=report, case_id=case_id).first()
    if sampled is None:
        raise SamplingError("This case is not part of this report.")
    note = note.strip()
    if verdict not in Finding.Verdict.values:
        raise SamplingError("Choose OK or Issue.")
    if verdict == Finding.Verdict.ISSUE and not note:
        raise SamplingError("Describe the issue in the note.")
    if len(note) > 2000:
        raise SamplingError("Keep the note under 2,000 characters.")
    with transaction.atomic():
        finding, _ = Finding.objects.update_or_create(
            sampled=sampled, defaults={"auditor": auditor, "verdict": verdict, "note": note},
        )
        record("sample_finding", target=finding, actor=auditor, request=request,
               report=report.pk, case=case_id, verdict=verdict)
    return finding


def _require_auditor(user: User) -> None:
    if Role.AUDITOR not in roles_of(user):
        raise SamplingError("Only auditors draw samples and record findings.")


def _validate(wanted: SampleRequest) -> tuple[str, ...]:
    if wanted.period_start > wanted.period_end:
        raise SamplingError("The period must start before it ends.")
    if (wanted.sample_size is None) == (wanted.sample_rate is None):
        raise SamplingError("Give either a sample size or a sample rate, not both.")
    if wanted.sample_size is not None and not 1 <= wanted.sample_size <= MAX_SAMPLE:
        raise SamplingError(f"The sample size must be between 1 and {MAX_SAMPLE}.")
    if wanted.sample_rate is not None and not Decimal(0) < wanted.sample_rate <= Decimal(1):
        raise SamplingError("The sample rate must be above 0 and at most 1 (100%).")
    unknown = set(wanted.strata) - set(STRATUM_FIELDS)
    if unknown:
        raise SamplingError(f"Unknown strata: {', '.join(sorted(unknown))}.")
    return tuple(s for s in STRATUM_FIELDS if s in wanted.strata)


def _stratum_label(strata: tuple[str, ...], values: list) -> str:
    return " · ".join(f"{s}={v or 'none'}" for s, v in zip(strata, values, strict=True))


def _repudiation_values(rows: list[tuple], index: int, flagged: set[int]) -> list[tuple]:
    """Each row's agent id (at ``index`` among its stratum values) replaced by
    "yes" when the agent was marked for review after a repudiation, else "no"."""
    at = index + 1  # after the case's pk
    return [(*row[:at], "yes" if row[at] in flagged else "no", *row[at + 1:]) for row in rows]


def _stratified(groups: dict[str, list[int]], size: int, seed: int) -> list[tuple[str, int]]:
    """Over-sampled strata first: every case of an agent with a repudiation is
    drawn, up to the sample size (when they are more, the size is shared
    among them proportionally). The rest of the sample is shared among the
    other strata proportionally (largest remainder). Then a seeded draw per
    stratum."""
    first = sorted(label for label in groups if OVER_SAMPLED in label)
    counts = _allocate({label: len(groups[label]) for label in first}, size)
    left = size - sum(counts.values())
    rest = {label: len(ids) for label, ids in groups.items() if label not in counts}
    counts.update(_allocate(rest, left))
    labels = sorted(groups)
    chosen = []
    for label in labels:
        # A reproducible sample, not a secret.
        rng = random.Random(f"{seed}:{label}")  # noqa: S311  # nosec B311
        chosen.extend((label, pk) for pk in sorted(rng.sample(groups[label], counts[label])))
    return chosen


def _allocate(sizes: dict[str, int], size: int) -> dict[str, int]:
    """``size`` shared among strata of ``sizes`` in proportion (largest
    remainder, ties by label); a stratum never gets more than it holds."""
    total = sum(sizes.values())
    if total <= size:
        return dict(sizes)
    quotas = {label: size * n / total for label, n in sizes.items()}
    counts = {label: int(quota) for label, quota in quotas.items()}
    left = size - sum(counts.values())
    for label in sorted(sizes, key=lambda lb: (-(quotas[lb] - counts[lb]), lb))[:left]:
        counts[label] += 1
    return counts
