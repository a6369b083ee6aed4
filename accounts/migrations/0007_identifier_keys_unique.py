"""The canonical keys filled by 0006 become unique (directory ids) and
indexed (emails); identifier fields refuse invisible and control characters.
Its own migration (own transaction): PostgreSQL alters no table with row
updates of the same transaction still pending."""

import accounts.identifiers
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0006_identifier_canonical_keys'),
    ]

    operations = [
        migrations.AlterField(
            model_name='identity',
            name='directory_key',
            field=models.TextField(editable=False, unique=True),
        ),
        migrations.AlterField(
            model_name='user',
            name='email_key',
            field=models.TextField(blank=True, db_index=True, editable=False),
        ),
        migrations.AlterField(
            model_name='recoverychannel',
            name='address_key',
            field=models.TextField(blank=True, db_index=True, editable=False),
        ),
        migrations.AlterField(
            model_name='identity',
            name='directory_id',
            field=models.CharField(help_text='Identifier in the HR or partner directory.', max_length=64, unique=True, validators=[accounts.identifiers.validate_identifier], verbose_name='directory id'),
        ),
        migrations.AlterField(
            model_name='recoverychannel',
            name='address',
            field=models.CharField(blank=True, help_text='Email address or phone number', max_length=254, validators=[accounts.identifiers.validate_identifier]),
        ),
        migrations.AlterField(
            model_name='user',
            name='email',
            field=models.EmailField(blank=True, max_length=254, validators=[accounts.identifiers.validate_identifier], verbose_name='email address'),
        ),
    ]
