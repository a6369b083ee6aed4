"""What a person sees of the passkey rollout on their portal page: their
invitations (deadline, snoozes left), passkeys, recovery channels and which
of those would be used to recover them, and the notices left for them there.

A read for one page, in a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, OuterRef

from accounts.models import PasskeyCredential, RecoveryChannel, User

from .. import channels as channel_rules
from ..models import Notice
from ..risk import RECENT_CHANNEL_CHANGE
from . import invitations, readiness
from .models import Invitation

NOTICES_SHOWN = 5


@dataclass(frozen=True)
class Channel:
    """A recovery channel as its owner sees it (masked), and whether it
    would be used to confirm it is them in a recovery; if not, why."""

    kind: str
    masked: str
    usable: bool
    why_not: str = ""


@dataclass(frozen=True)
class Status:
    invitations: list[Invitation]  # each with ``snoozes_left`` and ``may_snooze``
    passkeys: list[PasskeyCredential]
    channels: list[Channel]
    notices: list[Notice]

    @property
    def enrolled(self) -> bool:
        return bool(self.passkeys)

    @property
    def recoverable(self) -> bool:
        """At least one channel would be used to confirm it is them."""
        return any(channel.usable for channel in self.channels)

    @property
    def ready(self) -> bool:
        """Ready as the rollout counts it: a passkey and a usable channel."""
        return self.enrolled and self.recoverable


def status(user: User, now: datetime) -> Status:
    """``user``'s rollout status at ``now`` (empty parts for someone who is
    not an identity of the directory, e.g. staff only)."""
    passkeys = list(PasskeyCredential.objects.filter(user=user, revoked_at__isnull=True)
                    .order_by("-created_at"))
    identity = getattr(user, "identity", None)
    if identity is None:
        return Status([], passkeys, [], [])
    own = list(Invitation.objects.filter(identity=identity).select_related("wave__plan")
               .order_by("-invited_at"))
    for invitation in own:
        invitation.snoozes_left = invitations.snoozes_left(invitation)
        invitation.may_snooze = invitations.may_snooze(invitation, now) is None
        invitation.overdue = invitation.enrolled_at is None and invitation.enrol_by <= now
        invitation.snoozed = invitation.snoozed_until is not None and \
            invitation.snoozed_until > now
    notices = list(Notice.objects.filter(identity=identity, medium=Notice.Medium.PORTAL)
                   .order_by("-created_at")[:NOTICES_SHOWN])
    return Status(own, passkeys, _channels(identity, now), notices)


def _channels(identity, now: datetime) -> list[Channel]:
    usable = readiness.usable_channels(now).filter(pk=OuterRef("pk"))
    own = (identity.channels.filter(revoked_at__isnull=True).annotate(usable=Exists(usable))
           .order_by("kind", "pk"))
    max_age = None
    found = []
    for channel in own:
        why_not = ""
        if not channel.usable:
            max_age = max_age or channel_rules.strictest_max_age() or \
                readiness.DEFAULT_CHANNEL_AGE
            why_not = _why_not(channel, max_age, now)
        found.append(Channel(kind=channel.get_kind_display(), masked=channel.masked_address,
                             usable=channel.usable, why_not=why_not))
    return found


def _why_not(channel: RecoveryChannel, max_age, now: datetime) -> str:
    """``readiness.usable_channels``'s rule in words, for one channel."""
    if channel.verified_at is None:
        return "Not verified yet: the service desk can verify it with you."
    if channel_rules.is_stale(channel, max_age, now):
        return f"Not confirmed in the last {max_age.days} days: confirm it with the service desk."
    if channel.changed_within(RECENT_CHANNEL_CHANGE, now=now):
        return (f"Changed in the last {RECENT_CHANNEL_CHANGE.days} days: trusted once it has "
                f"stayed the same that long.")
    return "Not usable for recovery."
