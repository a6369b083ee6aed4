"""Seed one verification script and one recovery policy per risk tier.

Security admins edit them afterwards in the Django admin; this only creates
what is missing, so re-running never overwrites an edited policy.
"""

from datetime import timedelta

from django.db import migrations

CODE = ("channel_code", "Code to a registered channel",
        "Say: \"I am sending a six-digit code to the phone or email we have on file for you. "
        "Please read it back to me.\" Never send it to a number or address the caller gives "
        "you.")
KNOWLEDGE = ("knowledge", "Knowledge question",
             "Ask for the department and the name of the caller's manager. Weak on its own: "
             "it only supports the code check.")
CALLBACK = ("callback", "Call back the directory number",
            "Hang up and call the number from the directory (not the one the caller offers). "
            "Tick only if the same person answers and confirms the request.")
ATTESTATION = ("attestation", "Attestation by manager, sponsor or owner",
               "Send the confirmation link to the manager (employees), sponsor (contractors and "
               "partners) or owner (service accounts). Wait for their answer.")
DOCUMENT = ("id_document", "Official identity document",
            "On a video call, inspect an official photo document. Record its type and its last "
            "four characters only; never take or keep an image.")

SCRIPTS = {
    "low": ("Low risk: code check", [CODE + (True,), KNOWLEDGE + (False,)]),
    "medium": ("Medium risk: code and callback", [CODE + (True,), CALLBACK + (True,)]),
    "high": ("High risk: code and attestation",
             [CODE + (True,), ATTESTATION + (True,), CALLBACK + (False,)]),
    "restricted": ("Restricted: code, attestation, document and callback",
                   [CODE + (True,), ATTESTATION + (True,), DOCUMENT + (True,),
                    CALLBACK + (True,)]),
}

POLICIES = {
    "low": dict(approvals_required=0, credential_lifetime=timedelta(minutes=60),
                self_service_allowed=True, untrusted_if_changed_within=timedelta(0)),
    "medium": dict(approvals_required=0, credential_lifetime=timedelta(minutes=30),
                   self_service_allowed=True, untrusted_if_changed_within=timedelta(0)),
    "high": dict(approvals_required=1, credential_lifetime=timedelta(minutes=15),
                 self_service_allowed=True, untrusted_if_changed_within=timedelta(days=7)),
    "restricted": dict(approvals_required=2, credential_lifetime=timedelta(minutes=15),
                       self_service_allowed=False, untrusted_if_changed_within=timedelta(days=7)),
}


def seed(apps, schema_editor):
    Script = apps.get_model("recovery", "VerificationScript")
    Step = apps.get_model("recovery", "ScriptStep")
    Policy = apps.get_model("recovery", "RecoveryPolicy")
    for tier, (name, steps) in SCRIPTS.items():
        script, created = Script.objects.get_or_create(
            name=name, defaults={"description": f"Default script for the {tier} tier."})
        if created:
            for position, (kind, title, instructions, required) in enumerate(steps, start=1):
                Step.objects.create(script=script, position=position, kind=kind, title=title,
                                    instructions=instructions, required=required)
        Policy.objects.get_or_create(
            tier=tier,
            defaults=dict(script=script, max_redemption_attempts=5, revoke_old_passkeys=True,
                          watch_period=timedelta(hours=72), channel_max_age=timedelta(days=180),
                          **POLICIES[tier]),
        )


class Migration(migrations.Migration):
    dependencies = [("recovery", "0002_recovery_domain")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
