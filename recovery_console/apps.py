from django.apps import AppConfig
from django.db.models.signals import post_migrate

# What each role may do in the Django admin, beyond its own pages.
ROLE_ADMIN_PERMISSIONS = {
    "security_admin": {
        "recovery.recoverypolicy": ("view", "change"),
        "recovery.populationrule": ("view", "change"),
        "recovery.team": ("view", "add", "change"),
        "recovery.credentialrotation": ("view",),
        # The pressure checklist's signs: worded and switched off, never
        # deleted (answers keep the words they were given).
        "recovery.pressuresign": ("view", "add", "change"),
        "recovery.verificationscript": ("view", "add", "change"),
        "recovery.scriptstep": ("view", "add", "change", "delete"),
        "accounts.recoverychannel": ("view", "change"),
        "accounts.identity": ("view", "change"),
        "accounts.passkeycredential": ("view",),
        "directory.directorysource": ("view", "add", "change"),
        "directory.mappingrule": ("view", "add", "change", "delete"),
        "directory.syncrun": ("view",),
        "directory.directoryclient": ("view", "add", "change"),
        "restore.restoretarget": ("view", "add", "change"),
        "restore.restoreattempt": ("view",),
        # Sign-in event sources (their secret shown once) and the events they sent.
        "signin_events.eventsource": ("view", "add", "change"),
        "signin_events.signinevent": ("view",),
        # Applications that sign people in through the built-in OpenID provider.
        "oauth2_provider.application": ("view", "add", "change", "delete"),
    },
}


def grant_role_permissions(using: str = "default", **kwargs) -> None:
    """After every migrate: the role groups hold their admin permissions
    (permissions only exist once migrate has created them, so this runs after
    each app that has some: what is not there yet is added by a later run).
    One query for a role's permissions and one to add the missing ones: a
    test's flush runs this too."""
    from django.contrib.auth.models import Group, Permission
    from django.db.models import Q

    for role, models in ROLE_ADMIN_PERMISSIONS.items():
        wanted = Q()
        for label, actions in models.items():
            app_label, model = label.split(".")
            wanted |= Q(content_type__app_label=app_label, content_type__model=model,
                        codename__in=[f"{action}_{model}" for action in actions])
        group, _ = Group.objects.using(using).get_or_create(name=role)
        if wanted:  # an empty Q() would match every permission
            group.permissions.add(*Permission.objects.using(using).filter(wanted))


class RecoveryConfig(AppConfig):
    name = "recovery_console"
    label = "recovery"
    verbose_name = "Recovery"

    def ready(self) -> None:
        post_migrate.connect(grant_role_permissions, sender=self,
                             dispatch_uid="recovery-role-permissions")
        from auditlog.registry import auditlog

        from . import basis, models  # noqa: F401  (basis connects its receivers)
        from .ops.errors import start_error_reporting

        start_error_reporting()

        auditlog.register(models.VerificationScript)
        auditlog.register(models.ScriptStep)
        auditlog.register(models.RecoveryPolicy)
        auditlog.register(models.PopulationRule)
        auditlog.register(models.Team, m2m_fields={"members"})
        auditlog.register(models.RecoveryCase)
        auditlog.register(models.Evidence)
        auditlog.register(models.CaseNote)
        auditlog.register(models.Approval)
        auditlog.register(models.InvolvementReview)
        auditlog.register(models.Notice, exclude_fields=["body"])
        # Digests are secrets' stand-ins: never copied into the log.
        auditlog.register(models.ChannelCode, exclude_fields=["digest"])
        auditlog.register(models.Attestation, exclude_fields=["digest"])
        auditlog.register(models.RecoveryCredential, exclude_fields=[
            "digest", "handle", "reference", "channel_fingerprint", "issue_key"])
        auditlog.register(models.RecoverySession, exclude_fields=["digest"])
        auditlog.register(models.RecoveryCaseUserObjectPermission)
