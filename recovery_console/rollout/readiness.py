"""Who a cohort is, and how ready each member is for passkeys: the one
definition the readiness gate, the reports and the person's own page read.

Ready means a live passkey AND a usable recovery channel: verified, confirmed
within the strictest policy's age, and not changed in the last 7 days (a
recently changed channel is what a talked-into reset would use)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Case, Count, Exists, OuterRef, Q, QuerySet, Value, When

from accounts.models import Identity, PasskeyCredential, RecoveryChannel

from .. import channels as channel_rules
from ..models import Tier
from ..risk import RECENT_CHANNEL_CHANGE
from .models import Cohort

DEFAULT_CHANNEL_AGE = timedelta(days=365)  # when no policy exists yet


def base_tier() -> Case:
    """``risk.assess``'s floor (who the identity is, before recent signals)
    as SQL, for cohorts ruled by tier."""
    return Case(
        When(kind=Identity.Kind.SERVICE_ACCOUNT, then=Value(Tier.RESTRICTED)),
        When(Q(privileged=True) | Q(data_sensitivity=Identity.Sensitivity.HIGH),
             then=Value(Tier.HIGH)),
        When(Q(data_sensitivity=Identity.Sensitivity.MEDIUM)
             | Q(kind__in=(Identity.Kind.CONTRACTOR, Identity.Kind.PARTNER)),
             then=Value(Tier.MEDIUM)),
        default=Value(Tier.LOW))


def members(cohort: Cohort) -> QuerySet[Identity]:
    """The active identities ``cohort``'s rule matches, now."""
    found = Identity.objects.filter(is_active=True)
    if cohort.directory_group_key:
        found = found.filter(directory_groups__key=cohort.directory_group_key)
    if cohort.kind:
        found = found.filter(kind=cohort.kind)
    if cohort.department:
        found = found.filter(department__iexact=cohort.department)
    if cohort.privileged:
        found = found.filter(privileged=cohort.privileged == Cohort.Privileged.YES)
    if cohort.base_tier:
        found = found.alias(floor=base_tier()).filter(floor=cohort.base_tier)
    return found


def usable_channels(now: datetime) -> QuerySet[RecoveryChannel]:
    max_age = channel_rules.strictest_max_age() or DEFAULT_CHANNEL_AGE
    return RecoveryChannel.objects.filter(
        revoked_at__isnull=True, verified_at__isnull=False,
        last_confirmed_at__gte=now - max_age, changed_at__lt=now - RECENT_CHANNEL_CHANGE)


def with_readiness(identities: QuerySet[Identity], now: datetime) -> QuerySet[Identity]:
    """``identities`` annotated with ``has_passkey`` and ``has_channel``."""
    passkeys = PasskeyCredential.objects.filter(user_id=OuterRef("user_id"),
                                                revoked_at__isnull=True)
    return identities.annotate(
        has_passkey=Exists(passkeys),
        has_channel=Exists(usable_channels(now).filter(identity=OuterRef("pk"))))


@dataclass(frozen=True)
class Counts:
    members: int
    with_passkey: int
    with_channel: int
    ready: int
    with_nothing: int
    privileged: int
    privileged_ready: int

    def share(self, count: int) -> float:
        """``count`` as a percentage of the members (100 for an empty cohort)."""
        return 100.0 if not self.members else 100.0 * count / self.members


def counts(identities: QuerySet[Identity], now: datetime) -> Counts:
    """Readiness counts over ``identities`` in one query."""
    fields = {
        "members": Q(),
        "with_passkey": Q(has_passkey=True),
        "with_channel": Q(has_channel=True),
        "ready": Q(has_passkey=True, has_channel=True),
        "with_nothing": Q(has_passkey=False, has_channel=False),
        "privileged": Q(privileged=True),
        "privileged_ready": Q(privileged=True, has_passkey=True, has_channel=True),
    }
    # Aliased: an aggregate may not share a name with a field it filters on.
    rows = with_readiness(identities, now).aggregate(
        **{f"n_{name}": Count("pk", filter=rule) for name, rule in fields.items()})
    rows = {name: rows[f"n_{name}"] for name in fields}
    return Counts(**rows)


