"""Identifiers get their canonical form in a column of their own
(accounts.identifiers): the directory id (unique), the user's email and the
address of each email channel (indexed). Existing rows are filled here; two
directory ids with one canonical form stop the migration with both named,
for a person to resolve (choosing one silently would hand one person's
identifier to the other)."""

from django.db import migrations, models

BATCH = 2000


def fill(apps, schema_editor):
    from accounts.identifiers import canonical

    Identity = apps.get_model("accounts", "Identity")
    User = apps.get_model("accounts", "User")
    RecoveryChannel = apps.get_model("accounts", "RecoveryChannel")
    seen: dict[str, str] = {}
    batch = []
    for identity in Identity.objects.only("pk", "directory_id").order_by("pk").iterator():
        identity.directory_key = canonical(identity.directory_id)
        if identity.directory_key in seen:
            raise RuntimeError(
                f"Directory ids {seen[identity.directory_key]!r} and {identity.directory_id!r} "
                "are one identifier once normalised (case, width, compatibility forms): rename "
                "one of them, then migrate again.")
        seen[identity.directory_key] = identity.directory_id
        batch.append(identity)
        if len(batch) >= BATCH:
            Identity.objects.bulk_update(batch, ["directory_key"])
            batch = []
    Identity.objects.bulk_update(batch, ["directory_key"])
    batch = []
    for user in User.objects.exclude(email="").only("pk", "email").order_by("pk").iterator():
        user.email_key = canonical(user.email)
        batch.append(user)
        if len(batch) >= BATCH:
            User.objects.bulk_update(batch, ["email_key"])
            batch = []
    User.objects.bulk_update(batch, ["email_key"])
    batch = []
    for channel in (RecoveryChannel.objects.filter(kind="email").only("pk", "address")
                    .order_by("pk").iterator()):
        channel.address_key = canonical(channel.address)
        batch.append(channel)
        if len(batch) >= BATCH:
            RecoveryChannel.objects.bulk_update(batch, ["address_key"])
            batch = []
    RecoveryChannel.objects.bulk_update(batch, ["address_key"])


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0005_sessions_valid_after'),
    ]

    operations = [
        migrations.AddField(
            model_name='identity',
            name='directory_key',
            field=models.TextField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name='user',
            name='email_key',
            field=models.TextField(blank=True, default='', editable=False),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='recoverychannel',
            name='address_key',
            field=models.TextField(blank=True, default='', editable=False),
            preserve_default=False,
        ),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=False),
    ]
