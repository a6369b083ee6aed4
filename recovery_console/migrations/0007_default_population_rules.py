"""Seed the stricter rules for contractors, partners, shared service accounts
and privileged people, and the governance script service accounts follow.
Only creates what is missing: an edited rule is never overwritten."""

from datetime import timedelta

from django.db import migrations

GOVERNANCE_SCRIPT = "Service account governance: owner attestation"
GOVERNANCE_STEPS = [
    ("attestation", "Attestation by the account's owner",
     "Send the confirmation link to the owner of the service account on their own registered "
     "channel. Their confirmation is the only proof: nobody can prove to be a shared account.",
     True),
    ("callback", "Call back the owner",
     "Call the owner on the number from the directory and confirm why the credential must be "
     "rotated; note the change ticket.", True),
]

RULES = {
    "employee": dict(
        minimum_tier="low", explanation="Employees follow the policy of their risk tier."),
    "contractor": dict(
        minimum_tier="medium", attestation_required=True,
        explanation="Contractors: their sponsor must attest at every tier; a contractor past "
                    "their contract end date cannot be recovered; the sponsor is told after "
                    "the reset."),
    "partner": dict(
        minimum_tier="medium", self_service_allowed=False, attestation_required=True,
        explanation="B2B partners: no self-service request; the partner organisation's "
                    "designated administrator attests through a link to their own registered "
                    "channel; access is restored to the partner portal only."),
    "service_account": dict(
        minimum_tier="restricted", self_service_allowed=False, approvals_min=1,
        approver_role="security_admin", path="rotation",
        explanation="Shared service accounts are never recovered through the help desk path: "
                    "this is a governance case. The owner attests, a security admin (never the "
                    "owner) approves, and it ends with a recorded credential rotation, not a "
                    "passkey."),
    "privileged": dict(
        minimum_tier="high", approvals_min=2, credential_lifetime_max=timedelta(minutes=10),
        explanation="Privileged people: high tier or above, two distinct approvers, the "
                    "shortest credential lifetime, and watch-period alerts go to security "
                    "monitoring at once."),
}


def seed(apps, schema_editor):
    Script = apps.get_model("recovery", "VerificationScript")
    Step = apps.get_model("recovery", "ScriptStep")
    Rule = apps.get_model("recovery", "PopulationRule")
    script, created = Script.objects.get_or_create(
        name=GOVERNANCE_SCRIPT,
        defaults={"description": "Shared service accounts: owner attestation and callback."})
    if created:
        for position, (kind, title, instructions, required) in enumerate(GOVERNANCE_STEPS, 1):
            Step.objects.create(script=script, position=position, kind=kind, title=title,
                                instructions=instructions, required=required)
    for population, fields in RULES.items():
        if population == "service_account":
            fields = {**fields, "script": script}
        Rule.objects.get_or_create(population=population, defaults=fields)


class Migration(migrations.Migration):
    dependencies = [("recovery", "0006_populations")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
