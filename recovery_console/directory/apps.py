from django.apps import AppConfig


class DirectoryConfig(AppConfig):
    name = "recovery_console.directory"
    label = "directory"
    verbose_name = "Directory"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from .models import DirectorySource, MappingRule, SyncRun

        auditlog.register(DirectorySource)
        auditlog.register(MappingRule)
        # The snapshot and the preview are the run's working copy, not its story:
        # each change they lead to is audited on its own.
        auditlog.register(SyncRun, exclude_fields=["records", "preview"])
