from django.apps import AppConfig


class IdvConfig(AppConfig):
    name = "recovery_console.idv"
    label = "idv"
    verbose_name = "Identity verification providers"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from .models import IdentityVerification

        auditlog.register(IdentityVerification)
