"""The pressure checklist's signs (CISA AA23-320A, Okta's and NCSC's help-desk
guidance): what a social engineer on the phone tends to do. Security admins
edit them in the admin afterwards."""

from django.db import migrations

SIGNS = [
    ("urgency", "Urgency: the caller pushes to skip or speed up the checks",
     "A deadline, an outage, a meeting about to start, anger at the delay."),
    ("claimed_seniority", "Claimed seniority: the caller invokes rank or an executive",
     "\u201cI'm the CFO\u201d, \u201cthe CEO asked me to\u201d, threats to escalate."),
    ("refused_callback", "Refusal of a callback to the number on file", ""),
    ("unreachable_on_file", "The caller cannot be reached on the number on file",
     "The callback rings elsewhere, is not answered, or the caller asks for another number."),
    ("background_coaching", "Background coaching: someone else is heard prompting the caller",
     ""),
]


def seed(apps, schema_editor):
    PressureSign = apps.get_model("recovery", "PressureSign")
    for position, (code, label, help_text) in enumerate(SIGNS, start=1):
        PressureSign.objects.get_or_create(
            code=code, defaults={"label": label, "help_text": help_text,
                                 "position": position * 10})


def unseed(apps, schema_editor):
    apps.get_model("recovery", "PressureSign").objects.filter(
        code__in=[code for code, _label, _help in SIGNS]).delete()


class Migration(migrations.Migration):

    dependencies = [("recovery", "0023_velocity_and_pressure")]

    operations = [migrations.RunPython(seed, unseed)]
