from django.apps import AppConfig


class RestoreConfig(AppConfig):
    name = "recovery_console.restore"
    label = "restore"
    verbose_name = "Restore targets"
