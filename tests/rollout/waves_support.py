"""People at each readiness, a signed-in security admin, and a wave at any
stage, for the rollout's page and decision tests."""

from __future__ import annotations

from datetime import timedelta

from django.test import Client
from django.utils import timezone

from accounts.models import Identity, PasskeyCredential
from recovery_console.directory.models import GroupMembership
from recovery_console.rollout.models import Cohort, RolloutPlan, Wave
from tests.factories import IdentityFactory, RecoveryChannelFactory, staff
from tests.sessions import sign_in_client

GROUP = "Passkey wave 1"


def person(*, passkey: bool = True, channel: bool = True, group: str = GROUP,
           **fields) -> Identity:
    """A member of ``group``, with a live passkey and a usable recovery
    channel unless told otherwise."""
    identity = IdentityFactory(**fields)
    GroupMembership.objects.create(identity=identity, name=group, key=group.lower())
    if passkey:
        PasskeyCredential.objects.create(user=identity.user, name="Laptop",
                                         credential_id=f"cred-{identity.pk}", public_key=b"k")
    if channel:
        RecoveryChannelFactory(identity=identity)
    return identity


def admin_client(user=None) -> Client:
    return sign_in_client(Client(), user or staff("security_admin", username="sec-admin"))


def wave(stage: str = Wave.Stage.PILOT, *, since_days: float = 0, **plan_fields) -> Wave:
    """A wave of the ``GROUP`` cohort at ``stage``, entered ``since_days`` ago."""
    plan = RolloutPlan.objects.create(name=plan_fields.pop("name", "Passkeys 2027"),
                                      **plan_fields)
    cohort, _ = Cohort.objects.get_or_create(name="Wave one people", directory_group=GROUP)
    return Wave.objects.create(plan=plan, cohort=cohort, position=1, stage=stage,
                               stage_since=timezone.now() - timedelta(days=since_days))
