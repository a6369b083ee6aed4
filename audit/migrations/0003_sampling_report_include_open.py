"""Samples are drawn from closed cases unless the auditor asks for open ones.

Reports drawn before this change were drawn from every case, open or not: they
are marked so (include_open true), so the stored seed still redraws them."""

from django.db import migrations, models

HELP = ("Drawn from open cases as well; by default only closed cases (whose story is complete) "
        "are sampled.")


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0002_sampling"),
    ]

    operations = [
        migrations.AddField(
            model_name="samplingreport",
            name="include_open",
            field=models.BooleanField(default=True, help_text=HELP),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="samplingreport",
            name="include_open",
            field=models.BooleanField(default=False, help_text=HELP),
        ),
    ]
