from django.apps import AppConfig


class RecoveryConfig(AppConfig):
    name = "recovery_console"
    label = "recovery"
    verbose_name = "Recovery"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from . import models

        auditlog.register(models.VerificationScript)
        auditlog.register(models.ScriptStep)
        auditlog.register(models.RecoveryPolicy)
        auditlog.register(models.RecoveryCase)
        auditlog.register(models.Evidence)
        auditlog.register(models.Approval)
        auditlog.register(models.Notice, exclude_fields=["body"])
        # Digests are secrets' stand-ins: never copied into the log.
        auditlog.register(models.ChannelCode, exclude_fields=["code_digest"])
        auditlog.register(models.Attestation, exclude_fields=["token_digest"])
        auditlog.register(models.RecoveryCredential, exclude_fields=["code_digest", "handle"])
        auditlog.register(models.RecoverySession, exclude_fields=["token_digest"])
        auditlog.register(models.RecoveryCaseUserObjectPermission)
