from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from .models import Identity, User

        auditlog.register(User, exclude_fields=["password", "last_login"])
        auditlog.register(Identity)
