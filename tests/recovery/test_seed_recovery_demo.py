import pytest
from django.core.management import call_command

from recovery_console.models import RecoveryCase

pytestmark = pytest.mark.django_db


def test_recovery_demo_opens_a_case_per_tier_and_a_closed_history_idempotently(settings):
    settings.DEBUG = True
    call_command("seed_demo")
    call_command("seed_recovery_demo")
    open_cases = RecoveryCase.objects.filter(state__in=RecoveryCase.OPEN_STATES)
    assert open_cases.count() == 4
    assert {c.tier for c in open_cases} == {"low", "medium", "high", "restricted"}
    history = RecoveryCase.objects.exclude(state__in=RecoveryCase.OPEN_STATES)
    assert history.count() == 30
    assert set(history.values_list("state", flat=True)) == {
        "completed", "denied", "expired", "cancelled"}
    assert history.exclude(agent=None).count() == 30
    total = RecoveryCase.objects.count()
    call_command("seed_recovery_demo")
    assert RecoveryCase.objects.count() == total
