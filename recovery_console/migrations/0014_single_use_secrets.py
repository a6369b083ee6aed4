"""The five single-use-secret models share one base (SingleUseSecret): the
keyed hash is ``digest`` in each, an attestation's answer is its use
(``used_at``), and recovery sessions and repudiation links can be voided
(a voided session was until now one whose expiry was moved to the moment
of voiding; those stay as they are)."""

from django.db import migrations, models

ATTESTATION_PENDING = models.Q(("used_at__isnull", True), ("voided_at__isnull", True))


class Migration(migrations.Migration):

    dependencies = [
        ("recovery", "0013_case_escalation_and_credential_issue_key"),
    ]

    operations = [
        migrations.RemoveConstraint("attestation", "one_pending_attestation_per_step"),
        migrations.RemoveConstraint("attestation", "attestation_answer_has_decision"),
        migrations.RemoveIndex("recoverysession", "recovery_session_expiry_idx"),
        migrations.RenameField("channelcode", "code_digest", "digest"),
        migrations.RenameField("recoverycredential", "code_digest", "digest"),
        migrations.RenameField("attestation", "token_digest", "digest"),
        migrations.RenameField("recoverysession", "token_digest", "digest"),
        migrations.RenameField("repudiation", "token_digest", "digest"),
        migrations.RenameField("attestation", "answered_at", "used_at"),
        migrations.AddField("recoverysession", "voided_at",
                            models.DateTimeField(blank=True, null=True)),
        migrations.AddField("repudiation", "voided_at",
                            models.DateTimeField(blank=True, null=True)),
        migrations.AlterField(
            "attestation", "decision",
            models.CharField(blank=True, choices=[("confirm", "Confirmed"), ("refuse", "Refused")],
                             help_text="Set when the link is used (answered).", max_length=8),
        ),
        migrations.AddIndex(
            "recoverysession",
            models.Index(condition=models.Q(("used_at__isnull", True), ("voided_at__isnull", True)),
                         fields=["expires_at"], name="recovery_session_expiry_idx"),
        ),
        migrations.AddConstraint(
            "attestation",
            models.UniqueConstraint(condition=ATTESTATION_PENDING, fields=("case", "step"),
                                    name="one_pending_attestation_per_step"),
        ),
        migrations.AddConstraint(
            "attestation",
            models.CheckConstraint(
                condition=models.Q(("decision", ""), ("used_at__isnull", True))
                | models.Q(("decision__in", ["confirm", "refuse"]), ("used_at__isnull", False)),
                name="attestation_answer_has_decision"),
        ),
    ]
