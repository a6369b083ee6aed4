"""The queue's search keys (accounts.identifiers): each identity's display
name in searchable form, and each phone channel's digits (indexed). Existing
rows are filled here."""

from django.db import migrations, models

BATCH = 2000


def fill(apps, schema_editor):
    from accounts.identifiers import name_key, phone_key

    Identity = apps.get_model("accounts", "Identity")
    RecoveryChannel = apps.get_model("accounts", "RecoveryChannel")
    for model, rows, field, key, source in (
            (Identity, Identity.objects.all(), "name_key", name_key, "display_name"),
            (RecoveryChannel, RecoveryChannel.objects.filter(kind="phone"), "phone_key",
             phone_key, "address")):
        batch = []
        for row in rows.only("pk", source).order_by("pk").iterator():
            setattr(row, field, key(getattr(row, source)))
            batch.append(row)
            if len(batch) >= BATCH:
                model.objects.bulk_update(batch, [field])
                batch = []
        model.objects.bulk_update(batch, [field])


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0008_one_line_names_and_time_zone"),
    ]

    operations = [
        migrations.AddField(
            model_name="identity",
            name="name_key",
            field=models.TextField(blank=True, default="", editable=False),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="recoverychannel",
            name="phone_key",
            field=models.TextField(blank=True, db_index=True, default="", editable=False),
            preserve_default=False,
        ),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=False),
    ]
