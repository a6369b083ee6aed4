"""A rollout to stand on: cohorts by department, waves in a chosen stage,
and people who sign in to the portal with a password and an authenticator."""

from __future__ import annotations

import itertools

from django.urls import reverse

from recovery_console.rollout.models import Cohort, RolloutPlan, Wave
from tests.factories import PASSWORD, IdentityFactory, TOTPDeviceFactory, current_totp

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
