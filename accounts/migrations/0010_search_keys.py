"""The queue's search keys (accounts.identifiers): each identity's display
name in searchable form, and each phone channel's digits (indexed). Existing
rows are filled here.

On PostgreSQL the name key gets a trigram index (pg_trgm, a trusted
extension: the database owner that runs migrations may create it), so that
"part of a name" (LIKE '%ana%') reads the index instead of every identity.
SQLite has no such index; it matches the same rows by reading them all."""

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


def trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        schema_editor.execute("CREATE INDEX identity_name_key_trgm ON accounts_identity "
                              "USING gin (name_key gin_trgm_ops)")


def drop_trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS identity_name_key_trgm")


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0009_identity_directory_source"),
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
        migrations.RunPython(trigram_index, drop_trigram_index, elidable=False),
    ]
