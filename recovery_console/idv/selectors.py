"""What the case page shows of its ``idv`` steps: whether a provider is
configured, and whether a started verification waits for its result. No
query unless the script has such a step."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..models import RecoveryCase, ScriptStep
from . import config
from .models import IdentityVerification


@dataclass
class StepState:
    available: bool  # a provider is configured
    provider: str  # its name in words
    waiting: bool  # a verification was started and its result has not come


def step_states(case: RecoveryCase, steps, now: datetime) -> dict[int, StepState]:
    """step id -> StepState, for the ``idv`` steps among ``steps`` (StepStatus)."""
    ids = [s.step.pk for s in steps if s.step.kind == ScriptStep.Kind.IDENTITY_VERIFICATION]
    if not ids:
        return {}
    open_ids = set(IdentityVerification.objects.filter(
        case=case, step_id__in=ids, result="", voided_at__isnull=True, expires_at__gt=now,
    ).values_list("step_id", flat=True))
    available = config.is_configured()
    label = config.LABELS.get(config.provider_name(), "") if available else ""
    return {pk: StepState(available, label, pk in open_ids) for pk in ids}
