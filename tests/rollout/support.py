"""A plan, a wave and its members, for the rollout's tests."""

from __future__ import annotations

import itertools
import re
from datetime import timedelta

from django.urls import reverse

from accounts.models import Identity, PasskeyCredential
from recovery_console.models import Notice
from recovery_console.rollout.models import Cohort, RolloutPlan, Wave
from tests.factories import (
    PASSWORD,
    IdentityFactory,
    RecoveryChannelFactory,
    TOTPDeviceFactory,
    current_totp,
)

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


# --- the portal's door (enforcement) ---

PASSWORD_SIGN_IN = reverse("enforcement:password_sign_in")
_numbers = itertools.count(1)


def person(department: str = "Finance", **fields):
    """An identity whose account has a password and a TOTP device, no passkey."""
    identity = IdentityFactory(department=department, **fields)
    TOTPDeviceFactory(user=identity.user)
    return identity


def wave_for(department: str, stage: str, *, limit: int = 20, plan: RolloutPlan | None = None,
             **fields) -> Wave:
    """A wave of the people of ``department``, in ``stage``."""
    n = next(_numbers)
    plan = plan or RolloutPlan.objects.create(name=f"Plan {n}", daily_case_limit=limit)
    cohort = Cohort.objects.create(name=f"{department} {n}", department=department)
    position = plan.waves.count() + 1
    return Wave.objects.create(plan=plan, cohort=cohort, position=position, stage=stage, **fields)


def sign_in_with_password(client, identity, password: str = PASSWORD, token: str | None = None,
                          **extra):
    user = identity.user
    return client.post(PASSWORD_SIGN_IN, {"username": user.username, "password": password,
                                          "otp_token": token or current_totp(user)}, **extra)
