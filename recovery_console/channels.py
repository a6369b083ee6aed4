"""Stale recovery channels: flagged daily, revoked in bulk by security admins.

A channel nobody confirmed for longer than the strictest policy allows is no
proof of anything; flagging it tells the security team, revoking it removes
it from every future check and notice. Both are audited per channel."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Min, Q
from django.http import HttpRequest

from accounts.models import RecoveryChannel, User
from accounts.roles import Role, roles_of
from audit.events import record_many

from . import alerts, clock, workflow
from .models import Alert, RecoveryPolicy


class ChannelError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def stale_channels():
    return RecoveryChannel.objects.filter(revoked_at__isnull=True, stale_since__isnull=False)


def mark_stale() -> int:
    """Flag every live channel unconfirmed for longer than the strictest
    policy's channel age."""
    max_age = RecoveryPolicy.objects.aggregate(age=Min("channel_max_age"))["age"]
    if max_age is None:
        return 0
    now = clock.now()
    with transaction.atomic():
        ids = list(RecoveryChannel.objects.select_for_update(skip_locked=True).filter(
            Q(last_confirmed_at__lt=now - max_age) | Q(last_confirmed_at__isnull=True),
            revoked_at__isnull=True, stale_since__isnull=True,
        ).values_list("pk", flat=True))
        RecoveryChannel.objects.filter(pk__in=ids).update(stale_since=now)
        record_many("channel_marked_stale", RecoveryChannel,
                    [(pk, {"max_age_days": max_age.days}) for pk in ids])
    return len(ids)


def revoke_stale(admin: User, channel_ids: list[int], *,
                 request: HttpRequest | None = None) -> int:
    """Revoke the chosen stale channels. Only security admins may; channels
    that are not (or no longer) stale and live are left alone."""
    if Role.SECURITY_ADMIN not in roles_of(admin):
        raise ChannelError("Only security admins revoke recovery channels.")
    if not channel_ids:
        raise ChannelError("Choose at least one channel to revoke.")
    now = clock.now()
    with transaction.atomic():
        revoked = list(stale_channels().select_for_update().filter(pk__in=channel_ids)
                       .select_related("identity"))
        if not revoked:
            raise ChannelError("None of the chosen channels is stale and live any more.")
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
