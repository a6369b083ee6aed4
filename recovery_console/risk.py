"""The risk tier of a recovery: from who the identity is and what happened
lately. Computed once, when the case opens, and frozen on it with the reasons
so an agent, a supervisor and an auditor all see why."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from accounts.models import Identity

from .models import RecoveryCase, Tier

RECENT_CASE_WINDOW = timedelta(days=30)
RECENT_CHANNEL_CHANGE = timedelta(days=7)


@dataclass
class Assessment:
    tier: str = Tier.LOW
    reasons: list[str] = field(default_factory=list)

    def at_least(self, tier: str, reason: str) -> None:
        self.reasons.append(reason)
        if Tier.rank(tier) > Tier.rank(self.tier):
            self.tier = tier

    def raise_one(self, reason: str) -> None:
        self.reasons.append(reason)
        self.tier = Tier.one_up(self.tier)


def assess(identity: Identity, now: datetime,
           repeat_window: timedelta = RECENT_CASE_WINDOW) -> Assessment:
    """The tier for a recovery of ``identity`` opened at ``now``, and why.

    The identity sets a floor (service accounts: restricted; privileged or
    highly sensitive: high; external or medium sensitivity: medium); each
    recent signal raises the tier by one step (another recovery within
    ``repeat_window``, the policies' ``repeat_window``, is one)."""
    result = Assessment()
    if identity.kind == Identity.Kind.SERVICE_ACCOUNT:
        result.at_least(Tier.RESTRICTED, "Shared service account: always restricted.")
    if identity.privileged:
        result.at_least(Tier.HIGH, "Privileged account (administrator or executive).")
    if identity.data_sensitivity == Identity.Sensitivity.HIGH:
        result.at_least(Tier.HIGH, "Works with highly sensitive data.")
    elif identity.data_sensitivity == Identity.Sensitivity.MEDIUM:
        result.at_least(Tier.MEDIUM, "Works with data of medium sensitivity.")
    if identity.kind in (Identity.Kind.CONTRACTOR, Identity.Kind.PARTNER):
        result.at_least(Tier.MEDIUM, f"External person ({identity.get_kind_display().lower()}).")
    recent = RecoveryCase.objects.filter(
        identity=identity, opened_at__gte=now - repeat_window
    ).count()
    if recent:
        result.raise_one(f"Another recovery in the last {window_words(repeat_window)} "
                         f"({recent}).")
    changed = identity.channels.filter(
        revoked_at__isnull=True, changed_at__gte=now - RECENT_CHANNEL_CHANGE
    ).count()
    if changed:
        result.raise_one("A recovery channel changed in the last 7 days.")
    if not result.reasons:
        result.reasons.append("Employee with low data sensitivity and no risk signals.")
    return result


def window_words(window: timedelta) -> str:
    """A velocity window as said on pages: "30 days", "36 hours"."""
    if window.days and window == timedelta(days=window.days):
        return f"{window.days} day{'s' if window.days != 1 else ''}"
    hours = int(window.total_seconds() // 3600)
    return f"{hours} hour{'s' if hours != 1 else ''}"
