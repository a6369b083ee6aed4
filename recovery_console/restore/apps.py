from django.apps import AppConfig


class RestoreConfig(AppConfig):
    name = "recovery_console.restore"
    label = "restore"
    verbose_name = "Restore targets"

    def ready(self) -> None:
        from auditlog.registry import auditlog
        from django.db.models.signals import post_migrate

        from ..apps import grant_role_permissions

        # This app's permissions exist only once its own migrate signal ran.
        post_migrate.connect(grant_role_permissions, sender=self,
                             dispatch_uid="restore-role-permissions")

        from .models import RestoreAttempt, RestoreTarget

        auditlog.register(RestoreTarget)
        # The sealed credential is a secret's stand-in: never copied into the log.
        auditlog.register(RestoreAttempt, exclude_fields=["sealed_secret", "lease_until"])
