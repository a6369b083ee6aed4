import pytest
from django.core.management import call_command

from recovery_console.models import RecoveryCase

pytestmark = pytest.mark.django_db


def test_recovery_demo_gives_channels_and_opens_cases_idempotently(settings):
    settings.DEBUG = True
    call_command("seed_demo")
    call_command("seed_recovery_demo")
    counts = RecoveryCase.objects.count()
    assert counts == 4
    assert {c.tier for c in RecoveryCase.objects.all()} == {"low", "medium", "high",
                                                            "restricted"}
    call_command("seed_recovery_demo")
    assert RecoveryCase.objects.count() == counts
