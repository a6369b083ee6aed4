# The agent foreign key loses its own index: case_agent_idx (agent, state)
# already serves every lookup by agent. Only the index is dropped: Django's
# AlterField would also drop and re-add the foreign key, re-checking every case
# while writes wait.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

INDEX = "recovery_recoverycase_agent_id_78d1d1f5"


class Migration(migrations.Migration):

    dependencies = [
        ('recovery', '0009_session_expiry_index'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{INDEX}"',
                    reverse_sql=f'CREATE INDEX "{INDEX}" ON "recovery_recoverycase" ("agent_id")',
                ),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name='recoverycase',
                    name='agent',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='claimed_recovery_cases', to=settings.AUTH_USER_MODEL),
                ),
            ],
        ),
    ]
