from django.apps import AppConfig


class OIDCConfig(AppConfig):
    name = "recovery_console.oidc"
    label = "oidc"
    verbose_name = "OpenID provider"

    def ready(self) -> None:
        from auditlog.registry import auditlog
        from django.db.models.signals import post_migrate
        from oauth2_provider.models import get_application_model

        from ..apps import grant_role_permissions

        post_migrate.connect(grant_role_permissions, sender=self,
                             dispatch_uid="oidc-role-permissions")
        # Every change to a registered application is in the audit trail; its
        # secret (stored hashed) is never copied there.
        auditlog.register(get_application_model(), exclude_fields=["client_secret"])
