"""Read queries for the rollout pages: a constant number of queries per
page however many members a cohort has (a plan's page: one per wave)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, QuerySet

from accounts.models import Identity

from . import readiness
from .models import Cohort, RolloutPlan, Wave, WaveException

SHOWN = 50  # pilot members and exceptions a wave page lists


def cohorts() -> QuerySet[Cohort]:
    return Cohort.objects.annotate(wave_count=Count("waves")).order_by("name")


def plans() -> QuerySet[RolloutPlan]:
    return RolloutPlan.objects.annotate(wave_count=Count("waves")).order_by("name")


@dataclass(frozen=True)
class WaveRow:
    wave: Wave
    counts: readiness.Counts


def plan_waves(plan: RolloutPlan, now: datetime) -> list[WaveRow]:
    """The plan's waves in order, each with its cohort's readiness counts."""
    waves = plan.waves.select_related("cohort").order_by("position")
    return [WaveRow(wave, readiness.counts(readiness.members(wave.cohort), now))
            for wave in waves]


def wave(pk: int) -> Wave:
    return Wave.objects.select_related("plan", "cohort").get(pk=pk)


def pilot_members(wave: Wave) -> tuple[list[Identity], int]:
    """The first ``SHOWN`` of the pilot's sample, and how many it names."""
    shown = list(wave.pilot_members.order_by("display_name", "pk")[:SHOWN])
    return shown, len(shown) if len(shown) < SHOWN else wave.pilot_members.count()


def exceptions(wave: Wave) -> list[WaveException]:
    """The wave's open exceptions (soonest to expire first), then the ten
    that ended last."""
    rows = wave.exceptions.select_related("identity", "owner")
    open_ = list(rows.filter(ended_at__isnull=True).order_by("expires_at", "pk")[:SHOWN])
    ended = list(rows.filter(ended_at__isnull=False).order_by("-ended_at", "-pk")[:10])
    return open_ + ended
