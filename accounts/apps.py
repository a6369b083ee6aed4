from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from .models import Identity, PasskeyCredential, RecoveryChannel, User

        auditlog.register(User, exclude_fields=["password", "last_login"])
        auditlog.register(Identity)
        auditlog.register(RecoveryChannel)
        auditlog.register(
            PasskeyCredential, exclude_fields=["public_key", "sign_count", "last_used_at"]
        )
