"""The approvals list reads the cases awaiting approval nearest deadline first; with
a backlog, walking the index of every case's deadline past the other states cost 51 ms
at 100k identities (BENCHMARKS.md). The list of "lost" passkeys that signed in
and wait for review read every open case (11 ms with 15,000 open)."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0010_search_keys'),
        ('recovery', '0024_pressure_signs'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name='recoverycase',
            index=models.Index(condition=models.Q(('state', 'awaiting_approval')), fields=['deadline', 'id'], name='case_awaiting_deadline_idx'),
        ),
        migrations.AddIndex(
            model_name='recoverycase',
            index=models.Index(condition=models.Q(('lost_device_reviewed_at__isnull', True), ('lost_device_used_at__isnull', False)), fields=['lost_device_used_at'], name='case_lost_device_review_idx'),
        ),
    ]
