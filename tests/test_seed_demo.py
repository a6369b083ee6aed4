from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import Identity, RecoveryChannel, User
from accounts.roles import Role, roles_of

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_staff_for_every_role_and_identities_of_every_kind(capsys, settings):
    settings.DEBUG = True
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert "http://localhost:8000/accounts/sign-in/" in out
    for role in Role:
        holders = [u for u in User.objects.filter(groups__name=role) if role in roles_of(u)]
        assert holders, f"no demo {role}"
        assert holders[0].totpdevice_set.filter(confirmed=True).exists()
    for kind in Identity.Kind:
        assert Identity.objects.filter(kind=kind).count() >= 5, kind
    assert Identity.objects.count() >= 36
    assert Identity.objects.filter(privileged=True).exists()
    from django.core.validators import validate_email

    for address in RecoveryChannel.objects.filter(kind="email").values_list("address", flat=True):
        validate_email(address)  # every demo notice can be delivered
    people = Identity.objects.exclude(kind=Identity.Kind.SERVICE_ACCOUNT)
    assert all(i.channels.filter(kind="email").exists() for i in people)
    assert RecoveryChannel.objects.filter(kind="totp", totp_device__isnull=False).exists()
    assert RecoveryChannel.objects.filter(last_confirmed_at__lt=timezone.now() - timedelta(days=365)
                                          ).exists(), "no stale channel to demonstrate"


def test_seed_demo_is_idempotent(settings):
    settings.DEBUG = True
    call_command("seed_demo")
    counts = (User.objects.count(), Identity.objects.count(), Group.objects.count())
    call_command("seed_demo")
    assert (User.objects.count(), Identity.objects.count(), Group.objects.count()) == counts


def test_seed_demo_refuses_when_debug_is_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG is off"):
        call_command("seed_demo")
    assert not Identity.objects.exists()
