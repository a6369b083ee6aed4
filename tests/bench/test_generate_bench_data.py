"""generate_bench_data at a tiny size: the history it writes is complete,
mixed, and its audit chain verifies (the same check production runs)."""

from collections import Counter

import pytest
from auditlog.models import LogEntry
from django.core.management import CommandError, call_command

from accounts.models import Identity, RecoveryChannel
from audit.chain import verify
from audit.models import ChainLink
from recovery_console.models import (
    Approval,
    Evidence,
    Notice,
    RecoveryCase,
    RecoveryCaseUserObjectPermission,
    RecoveryCredential,
    RecoverySession,
)

# transaction=True: the command vacuums, which PostgreSQL refuses inside a transaction.
pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("recovery_reference_data")]


@pytest.fixture
def generated(on_postgres, settings):
    settings.DEBUG = True
    call_command("generate_bench_data", identities=200, seed=3)


def test_generates_about_one_case_per_identity_per_year(generated):
    assert Identity.objects.filter(directory_id__startswith="bench-").count() == 200
    channels = RecoveryChannel.objects.filter(identity__directory_id__startswith="bench-")
    assert channels.count() == 400
    assert 300 <= RecoveryCase.objects.count() <= 500


def test_history_mixes_kinds_tiers_and_outcomes(generated):
    kinds = Counter(Identity.objects.filter(directory_id__startswith="bench-")
                    .values_list("kind", flat=True))
    tiers = Counter(RecoveryCase.objects.values_list("tier", flat=True))
    states = Counter(RecoveryCase.objects.values_list("state", flat=True))
    assert kinds["employee"] > kinds["contractor"] > 0
    assert set(tiers) >= {"low", "medium", "high"}
    assert states["completed"] > states["expired"] > 0
    assert states["cancelled"] and states["failed"]


def test_each_case_has_the_rows_its_history_wrote(generated):
    completed = RecoveryCase.objects.filter(state="completed")
    assert Evidence.objects.filter(case__in=completed).values("case").distinct().count() \
        == completed.count()
    assert RecoverySession.objects.filter(case__in=completed).count() == completed.count()
    assert RecoveryCredential.objects.filter(used_at__isnull=True,
                                             voided_at__isnull=True).count() \
        == RecoveryCase.objects.filter(state="credential_issued").count()
    assert Approval.objects.filter(case__tier__in=["high", "restricted"]).exists()
    assert not Approval.objects.filter(case__tier__in=["low", "medium"]).exists()
    assert Notice.objects.filter(case__isnull=False).count() >= 2 * RecoveryCase.objects.count()
    assert RecoveryCaseUserObjectPermission.objects.count() \
        == RecoveryCase.objects.filter(agent__isnull=False).count()
    assert RecoveryCase.objects.filter(state__in=RecoveryCase.OPEN_STATES).count() \
        == RecoveryCase.objects.filter(state__in=RecoveryCase.OPEN_STATES).values(
            "identity").distinct().count()


def test_audit_entries_are_chained_and_verify(generated):
    assert LogEntry.objects.count() > 10 * RecoveryCase.objects.count()
    assert ChainLink.objects.count() == LogEntry.objects.count()
    verdict = verify()
    assert verdict.intact, verdict.problem
    assert verdict.checked == LogEntry.objects.count()


def test_refuses_without_debug_unless_allowed(on_postgres, settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG is off"):
        call_command("generate_bench_data", identities=5)
    call_command("generate_bench_data", identities=5, allow_production=True)
    assert Identity.objects.filter(directory_id__startswith="bench-").count() == 5
