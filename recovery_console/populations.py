"""Which stricter rules apply to whom: the population rules (data, edited by
security admins) for the identity's kind and, for privileged people, the
privileged rule, combined with the tier's policy. The strictest wins."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from accounts.models import Identity

from .models import (
    PopulationRule,
    RecoveryPolicy,
    ScriptStep,
    Tier,
    VerificationScript,
    names_population,
)


@dataclass
class Applied:
    rules: list[PopulationRule]
    minimum_tier: str = Tier.LOW
    self_service_allowed: bool = True
    notes: list[str] = field(default_factory=list)


def populations_of(identity: Identity) -> list[str]:
    """The populations ``identity`` belongs to: its kind, and privileged
    people when it is privileged (the population rules and the help-desk
    teams that serve it are chosen by these)."""
    return [identity.kind] + ([PopulationRule.Population.PRIVILEGED]
                              if identity.privileged else [])


def rules_for(identity: Identity) -> Applied:
    rules = list(PopulationRule.objects.select_related("script")
                 .filter(population__in=populations_of(identity)))
    applied = Applied(rules=rules)
    for rule in rules:
        if Tier.rank(rule.minimum_tier) > Tier.rank(applied.minimum_tier):
            applied.minimum_tier = rule.minimum_tier
        applied.self_service_allowed &= rule.self_service_allowed
        applied.notes.append(_note(rule))
    return applied


def _note(rule: PopulationRule) -> str:
    """The rule's explanation, led by the population's name unless the
    explanation already starts with it (the seeded ones do: "Contractors:
    their sponsor ...", never "Contractors: Contractors: ...")."""
    label = rule.get_population_display()
    if names_population(label, rule.explanation):
        return rule.explanation
    return f"{label}: {rule.explanation}"


def script_for(applied: Applied, policy: RecoveryPolicy) -> VerificationScript:
    """The rule's own script if it has one; else the tier's, unless a rule
    wants an attestation the tier's script lacks: then the script of the
    lowest tier that has one."""
    forced = next((r.script for r in applied.rules if r.script_id), None)
    if forced is not None:
        return forced
    if not any(r.attestation_required for r in applied.rules) or _attests(policy.script):
        return policy.script
    for candidate in sorted(RecoveryPolicy.objects.select_related("script"),
                            key=lambda p: Tier.rank(p.tier)):
        if _attests(candidate.script):
            return candidate.script
    return policy.script


def snapshot_for(applied: Applied, policy: RecoveryPolicy) -> dict:
    """The tier's policy snapshot made as strict as the rules require."""
    snapshot = policy.snapshot()
    lifetimes = [r.credential_lifetime_max for r in applied.rules if r.credential_lifetime_max]
    if lifetimes:
        snapshot["credential_lifetime"] = min(
            timedelta(seconds=snapshot["credential_lifetime"]), *lifetimes).total_seconds()
    governance = [r for r in applied.rules if r.approver_role == "security_admin"]
    if governance:
        # Supervisors do not decide governance cases: their count does not apply.
        snapshot["approvals_required"] = max(r.approvals_min for r in governance)
    else:
        snapshot["approvals_required"] = max([snapshot["approvals_required"]]
                                             + [r.approvals_min for r in applied.rules])
    snapshot["self_service_allowed"] = snapshot["self_service_allowed"] and \
        applied.self_service_allowed
    rotation = any(r.path == PopulationRule.Path.ROTATION for r in applied.rules)
    snapshot["path"] = PopulationRule.Path.ROTATION if rotation else PopulationRule.Path.PASSKEY
    snapshot["approver_role"] = "security_admin" if any(
        r.approver_role == "security_admin" for r in applied.rules) else "supervisor"
    snapshot["population_notes"] = applied.notes
    return snapshot


def _attests(script: VerificationScript) -> bool:
    return script.steps.filter(kind=ScriptStep.Kind.ATTESTATION, required=True).exists()
