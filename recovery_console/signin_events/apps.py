from django.apps import AppConfig


class SignInEventsConfig(AppConfig):
    name = "recovery_console.signin_events"
    label = "signin_events"
    verbose_name = "Sign-in events"

    def ready(self) -> None:
        from auditlog.registry import auditlog
        from django.db.models.signals import post_migrate

        from ..apps import grant_role_permissions

        # This app's permissions exist only once its own migrate signal ran.
        post_migrate.connect(grant_role_permissions, sender=self,
                             dispatch_uid="signin-events-role-permissions")

        from .models import EventSource

        # The sealed secret never reaches the audit log, even as a diff.
        auditlog.register(EventSource, exclude_fields=["secret_sealed"])
