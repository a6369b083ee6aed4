from django.apps import AppConfig


class DirectoryConfig(AppConfig):
    name = "recovery_console.directory"
    label = "directory"
    verbose_name = "Directory"

    def ready(self) -> None:
        from auditlog.registry import auditlog
        from django.db.models.signals import post_migrate

        from ..apps import grant_role_permissions

        # This app's permissions exist only once its own migrate signal ran.
        post_migrate.connect(grant_role_permissions, sender=self,
                             dispatch_uid="directory-role-permissions")

        from .models import DirectorySource, MappingRule, SyncRun

        # What the sync keeps (where it resumes, the ids it saw) is no setting.
        auditlog.register(DirectorySource, exclude_fields=[
            "ldap_watermark", "ldap_seen_ids", "ldap_last_full_at"])
        auditlog.register(MappingRule)
        # The snapshot and the preview are the run's working copy, not its story:
        # each change they lead to is audited on its own.
        auditlog.register(SyncRun, exclude_fields=["records", "preview"])
