"""A recovery history for the auditor's pages to count and sample."""

from datetime import datetime, timedelta

from django.utils import timezone

from recovery_console.models import RecoveryCase
from tests.factories import recovery_case, staff


def history(n_per_tier=6, agents=("agent-0", "agent-1")):
    """Cases over 2026 across tiers, agents and outcomes: opened in January
    to June (with n_per_tier=6), none from July on."""
    agents = [staff("agent", username=name) for name in agents]
    outcomes = ["completed", "denied", "expired", "completed"]
    cases = []
    for tier in ("low", "medium", "high"):
        for i in range(n_per_tier):
            case = recovery_case(tier)
            opened = timezone.make_aware(datetime(2026, 1 + i % 10, 1 + i, 9, 0))
            RecoveryCase.objects.filter(pk=case.pk).update(
                opened_at=opened, agent=agents[i % 2], state=outcomes[i % 4],
                verified_at=opened + timedelta(hours=1 + i), closed_at=opened + timedelta(hours=5))
            cases.append(case)
    return cases
