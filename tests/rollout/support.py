"""A plan, a wave and its members, for the rollout's tests."""

from __future__ import annotations

import re
from datetime import timedelta

from accounts.models import Identity, PasskeyCredential
from recovery_console.models import Notice
from recovery_console.rollout.models import Cohort, RolloutPlan, Wave
from tests.factories import IdentityFactory, RecoveryChannelFactory, TOTPDeviceFactory

DEPARTMENT = "Finance"
LINK = re.compile(r"/my/enrol/([A-Za-z0-9_-]+)/")


def wave_of(stage: str = Wave.Stage.INVITE, **plan_fields) -> Wave:
    plan = RolloutPlan.objects.create(name=f"Plan {RolloutPlan.objects.count() + 1}",
                                      **plan_fields)
    cohort, _ = Cohort.objects.get_or_create(name="Finance", department=DEPARTMENT)
    return Wave.objects.create(plan=plan, cohort=cohort, position=1, stage=stage)


def member(*, email: bool = True, **fields) -> Identity:
    """A member of the Finance cohort who can sign in to the portal (a TOTP
    device), with an email channel confirmed recently unless ``email`` is False."""
    identity = IdentityFactory(department=DEPARTMENT, **fields)
    TOTPDeviceFactory(user=identity.user)
    if email:
        RecoveryChannelFactory(identity=identity, kind="email")
    return identity


def passkey_of(identity: Identity, **fields) -> PasskeyCredential:
    return PasskeyCredential.objects.create(
        user=identity.user, name="Laptop", credential_id=f"cred-{identity.pk}-{fields!r}",
        public_key=b"k", **fields)


def link_token(identity: Identity, event: str = "enrolment_invitation") -> str:
    """The enrolment link in the last email of ``event`` sent to ``identity``."""
    notice = Notice.objects.filter(identity=identity, medium=Notice.Medium.EMAIL,
                                   event=event).order_by("-pk").first()
    return LINK.search(notice.body).group(1)


def days(n: float) -> timedelta:
    return timedelta(days=n)
