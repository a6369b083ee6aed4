"""Stale recovery channels: flagged daily, revoked in bulk by security admins.

A channel nobody confirmed for longer than the strictest policy allows is no
proof of anything; flagging it tells the security team, revoking it removes
it from every future check and notice. Both are audited per channel."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Min, Q, QuerySet
from django.http import HttpRequest

from accounts.models import RecoveryChannel, User
from accounts.roles import Role, roles_of
from audit.events import record, record_many

from . import alerts, clock, workflow
from .models import Alert, RecoveryPolicy, Tier
from .refusal import WorkflowError

# Why a channel cannot carry a code, a link or a credential for a case.
REVOKED, STALE, RECENTLY_CHANGED = "revoked", "stale", "recently_changed"


def is_stale(channel: RecoveryChannel, max_age: timedelta, now: datetime) -> bool:
    """THE rule of staleness, for the case page, the workflow and the security
    admins' stale-channels page alike: a channel never verified, never
    confirmed, or last confirmed longer than ``max_age`` ago proves nothing."""
    return (channel.verified_at is None or channel.last_confirmed_at is None
            or now - channel.last_confirmed_at > max_age)


def unusable_because(channel: RecoveryChannel, rules, now: datetime) -> str | None:
    """Why ``channel`` cannot serve a case under ``rules`` (its frozen
    policy): revoked, stale, or changed too recently for the tier; None when
    it can. The case page offers only channels for which this is None, and
    the workflow refuses the others."""
    if channel.revoked_at is not None:
        return REVOKED
    if is_stale(channel, rules.channel_max_age, now):
        return STALE
    window = rules.untrusted_if_changed_within
    if window and channel.changed_within(window, now=now):
        return RECENTLY_CHANGED
    return None


@dataclass(frozen=True)
class Staleness:
    """Why a channel is stale, in words a security admin reads, and since
    when (None: it never was usable)."""

    explanation: str
    since: datetime | None
    since_at: str = ""  # the tiers it went stale for first ("" when every tier at once)


def _days(delta: timedelta) -> str:
    return f"{delta.days} day{'' if delta.days == 1 else 's'}"


def _tiers(policies: Sequence[RecoveryPolicy]) -> str:
    names = [p.get_tier_display().lower() for p in policies]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def why_stale(channel: RecoveryChannel, policies: Sequence[RecoveryPolicy],
              now: datetime) -> Staleness | None:
    """The rule that makes ``channel`` stale under ``policies`` (the same
    rule as ``is_stale``), in words: "Not confirmed for 400 days; the
    high-tier policy allows 365." None when no policy finds it stale."""
    if not policies:
        return None
    policies = sorted(policies, key=lambda p: Tier.rank(p.tier))
    if channel.verified_at is None:
        return Staleness("Never verified; no policy accepts an unverified channel.", None)
    if channel.last_confirmed_at is None:
        return Staleness("Verified but never confirmed; no policy accepts an unconfirmed "
                         "channel.", None)
    age = now - channel.last_confirmed_at
    broken = [p for p in policies if is_stale(channel, p.channel_max_age, now)]
    if not broken:
        return None
    loosest = max(p.channel_max_age for p in broken)
    named = [p for p in broken if p.channel_max_age == loosest]
    if len(broken) == len(policies) and len(named) == len(policies):
        rule = f"every tier's policy allows {loosest.days}."
    else:
        allows = "policy allows" if len(named) == 1 else "policies allow"
        rule = f"the {_tiers(named)}-tier {allows} {loosest.days}."
        kept = [p for p in policies if p not in broken]
        rule += (f" Still accepted at the {_tiers(kept)} tier{'s' if len(kept) > 1 else ''}."
                 if kept else " Stale at every tier.")
    strictest = min(p.channel_max_age for p in policies)
    first = [p for p in policies if p.channel_max_age == strictest]
    since_at = "" if len(first) == len(policies) else \
        f"the {_tiers(first)} tier{'s' if len(first) > 1 else ''}"
    return Staleness(f"Not confirmed for {_days(age)}; {rule}",
                     channel.last_confirmed_at + strictest, since_at)


def strictest_max_age() -> timedelta | None:
    """The shortest channel age any policy allows: a channel stale under it
    is stale for some tier, and listed for security admins."""
    return RecoveryPolicy.objects.aggregate(age=Min("channel_max_age"))["age"]


def possibly_stale(max_age: timedelta, now: datetime) -> QuerySet[RecoveryChannel]:
    """Live channels ``is_stale`` may find stale under ``max_age``: the same
    rule in SQL, to narrow the rows; ``is_stale`` decides."""
    return RecoveryChannel.objects.filter(
        Q(verified_at__isnull=True) | Q(last_confirmed_at__isnull=True)
        | Q(last_confirmed_at__lt=now - max_age), revoked_at__isnull=True)


def stale_channels(now: datetime | None = None, limit: int = 500) -> list[RecoveryChannel]:
    """Live channels stale under the strictest policy, as of ``now`` (not
    as of the last daily flagging: a channel confirmed since is not stale)."""
    now, max_age = now or clock.now(), strictest_max_age()
    if max_age is None:
        return []
    found = possibly_stale(max_age, now).select_related("identity").order_by(
        "last_confirmed_at", "pk")[:limit]
    return [c for c in found if is_stale(c, max_age, now)]


def mark_stale() -> int:
    """Flag every live channel unconfirmed for longer than the strictest
    policy's channel age."""
    max_age = strictest_max_age()
    if max_age is None:
        return 0
    now = clock.now()
    with transaction.atomic():
        ids = [c.pk for c in possibly_stale(max_age, now).select_for_update(skip_locked=True)
               .filter(stale_since__isnull=True) if is_stale(c, max_age, now)]
        RecoveryChannel.objects.filter(pk__in=ids).update(stale_since=now)
        record_many("channel_marked_stale", RecoveryChannel,
                    [(pk, {"max_age_days": max_age.days}) for pk in ids])
    return len(ids)


# One request revokes at most this many: each revocation voids, audits and
# notifies on its own, inside the request.
REVOKE_AT_MOST = 100
REASON_MAX_LENGTH = 500


def revoke_stale(admin: User, channel_ids: Sequence[int], reason: str, *,
                 request: HttpRequest | None = None) -> int:
    """Revoke the chosen stale channels, for ``reason`` (required, kept in
    each channel's ``channel_revoked`` audit entry). Only security admins
    may; channels that are not (or no longer) stale and live are left alone."""
    try:
        with transaction.atomic():
            return _revoke_stale(admin, list(dict.fromkeys(channel_ids)), reason.strip(), request)
    except WorkflowError as refusal:
        record("channel_revoke_refused", target=RecoveryChannel, actor=admin, request=request,
               reason=refusal.reason, message=refusal.message)
        raise


def _revoke_stale(admin: User, channel_ids: list[int], reason: str,
                  request: HttpRequest | None) -> int:
    if Role.SECURITY_ADMIN not in roles_of(admin):
        raise WorkflowError("Only security admins revoke recovery channels.",
                            reason="not_security_admin", status=WorkflowError.FORBIDDEN)
    if not channel_ids:
        raise WorkflowError("Choose at least one channel to revoke.", reason="none_chosen",
                            status=WorkflowError.BAD_REQUEST)
    if len(channel_ids) > REVOKE_AT_MOST:
        raise WorkflowError(f"Choose at most {REVOKE_AT_MOST} channels at once.",
                            reason="too_many", status=WorkflowError.BAD_REQUEST)
    if not reason or len(reason) > REASON_MAX_LENGTH:
        raise WorkflowError(f"Give a reason for the revocation, under {REASON_MAX_LENGTH} "
                            "characters.", reason="reason_required",
                            status=WorkflowError.BAD_REQUEST)
    now, max_age = clock.now(), strictest_max_age()
    revoked = [c for c in possibly_stale(max_age, now).select_for_update(of=("self",))
               .select_related("identity").filter(pk__in=channel_ids)
               if is_stale(c, max_age, now)] if max_age else []
    if not revoked:
        raise WorkflowError("None of the chosen channels is stale and live any more.",
                            reason="none_stale", status=WorkflowError.BAD_REQUEST)
    ids = [channel.pk for channel in revoked]
    RecoveryChannel.objects.filter(pk__in=ids).update(revoked_at=now, changed_at=now)
    record_many("channel_revoked", RecoveryChannel, [
        (pk, {"reason": reason, "because": "stale", "max_age_days": max_age.days, "bulk": True})
        for pk in ids], actor=admin)
    # A bulk update sends no save signal: end what rested on these channels here.
    for channel in revoked:
        workflow.void_basis(channel.identity, "channel_revoked", channel=channel,
                            actor=admin, request=request)
    return len(ids)


def channel_changed(channel: RecoveryChannel, *, request: HttpRequest | None = None) -> None:
    """A channel was added or changed (by an admin): inside a watch period
    that is exactly what an attacker who just took over would do."""
    alerts.watch(channel.identity, Alert.Kind.CHANNEL_CHANGE,
                 f"{channel.get_kind_display()} channel {channel.masked_address} changed "
                 "during the watch period after a recovery.", request=request)
