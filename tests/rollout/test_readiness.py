"""Who a cohort's rule takes in, and who counts as ready for passkeys."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import PasskeyCredential
from recovery_console.directory.models import GroupMembership
from recovery_console.rollout import readiness
from recovery_console.rollout.models import Cohort
from tests.factories import IdentityFactory, RecoveryChannelFactory

pytestmark = pytest.mark.django_db


def _passkey(identity, **fields):
    return PasskeyCredential.objects.create(
        user=identity.user, name="Laptop", credential_id=f"cred-{identity.pk}",
        public_key=b"k", **fields)


def test_a_cohort_takes_active_members_of_its_group_ignoring_letter_case():
    finance, former, other = IdentityFactory(), IdentityFactory(is_active=False), IdentityFactory()
    for person in (finance, former):
        GroupMembership.objects.create(identity=person, name="CN=Finance,OU=Groups",
                                       key="cn=finance,ou=groups")
    GroupMembership.objects.create(identity=other, name="Sales", key="sales")
    cohort = Cohort.objects.create(name="Finance", directory_group="cn=FINANCE,ou=Groups")

    assert list(readiness.members(cohort)) == [finance]


def test_a_cohort_by_base_tier_and_privilege_matches_the_risk_floor():
    admin = IdentityFactory(privileged=True)
    contractor = IdentityFactory(kind="contractor")
    IdentityFactory()  # a low-tier employee
    high = Cohort.objects.create(name="High", base_tier="high")
    medium = Cohort.objects.create(name="Medium, not privileged", base_tier="medium",
                                   privileged=Cohort.Privileged.NO)

    assert list(readiness.members(high)) == [admin]
    assert list(readiness.members(medium)) == [contractor]


def test_ready_means_a_live_passkey_and_a_channel_that_is_confirmed_and_settled():
    now = timezone.now()
    ready = IdentityFactory(privileged=True)
    _passkey(ready)
    RecoveryChannelFactory(identity=ready)
    changed_lately = IdentityFactory()
    _passkey(changed_lately)
    RecoveryChannelFactory(identity=changed_lately, changed_at=now - timedelta(days=2))
    revoked_passkey = IdentityFactory(privileged=True)
    _passkey(revoked_passkey, revoked_at=now)
    RecoveryChannelFactory(identity=revoked_passkey)
    IdentityFactory()  # nothing at all

    counts = readiness.counts(readiness.members(Cohort(name="Everyone")), now)

    assert counts == readiness.Counts(members=4, with_passkey=2, with_channel=2, ready=1,
                                      with_nothing=1, privileged=2, privileged_ready=1)
    assert counts.share(counts.ready) == 25.0
