"""Stale recovery channels: flagged daily, revoked in bulk by security admins.

A channel nobody confirmed for longer than the strictest policy allows is no
proof of anything; flagging it tells the security team, revoking it removes
it from every future check and notice. Both are audited per channel."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Min, Q, QuerySet
from django.http import HttpRequest

from accounts.models import RecoveryChannel, User
from accounts.roles import Role, roles_of
from audit.events import record_many

from . import alerts, clock, workflow
from .models import Alert, RecoveryPolicy
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


def strictest_max_age() -> timedelta | None:
    """The shortest channel age any policy allows: a channel stale under it
    is stale for some tier, and listed for security admins."""
    return RecoveryPolicy.objects.aggregate(age=Min("channel_max_age"))["age"]


def _possibly_stale(max_age: timedelta, now: datetime) -> QuerySet[RecoveryChannel]:
    # Narrows the rows to look at; ``is_stale`` decides.
    return RecoveryChannel.objects.filter(
        Q(verified_at__isnull=True) | Q(last_confirmed_at__isnull=True)
        | Q(last_confirmed_at__lt=now - max_age), revoked_at__isnull=True)


def stale_channels(now: datetime | None = None, limit: int = 500) -> list[RecoveryChannel]:
    """Live channels stale under the strictest policy, as of ``now`` (not
    as of the last daily flagging: a channel confirmed since is not stale)."""
    now, max_age = now or clock.now(), strictest_max_age()
    if max_age is None:
        return []
    found = _possibly_stale(max_age, now).select_related("identity").order_by(
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
        ids = [c.pk for c in _possibly_stale(max_age, now).select_for_update(skip_locked=True)
               .filter(stale_since__isnull=True) if is_stale(c, max_age, now)]
        RecoveryChannel.objects.filter(pk__in=ids).update(stale_since=now)
        record_many("channel_marked_stale", RecoveryChannel,
                    [(pk, {"max_age_days": max_age.days}) for pk in ids])
    return len(ids)


def revoke_stale(admin: User, channel_ids: list[int], *,
                 request: HttpRequest | None = None) -> int:
    """Revoke the chosen stale channels. Only security admins may; channels
    that are not (or no longer) stale and live are left alone."""
    if Role.SECURITY_ADMIN not in roles_of(admin):
        raise WorkflowError("Only security admins revoke recovery channels.",
                            reason="not_security_admin", status=WorkflowError.FORBIDDEN)
    if not channel_ids:
        raise WorkflowError("Choose at least one channel to revoke.", reason="none_chosen",
                            status=WorkflowError.BAD_REQUEST)
    now, max_age = clock.now(), strictest_max_age()
    with transaction.atomic():
        revoked = [c for c in _possibly_stale(max_age, now).select_for_update(of=("self",))
                   .select_related("identity").filter(pk__in=channel_ids)
                   if is_stale(c, max_age, now)] if max_age else []
        if not revoked:
            raise WorkflowError("None of the chosen channels is stale and live any more.",
                                reason="none_stale", status=WorkflowError.BAD_REQUEST)
        ids = [channel.pk for channel in revoked]
        RecoveryChannel.objects.filter(pk__in=ids).update(revoked_at=now, changed_at=now)
        record_many("channel_revoked", RecoveryChannel,
                    [(pk, {"reason": "stale", "bulk": True}) for pk in ids], actor=admin)
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
