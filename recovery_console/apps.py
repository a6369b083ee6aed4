from django.apps import AppConfig


class RecoveryConfig(AppConfig):
    name = "recovery_console"
    label = "recovery"
    verbose_name = "Recovery"
