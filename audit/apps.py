from django.apps import AppConfig
from django.db.models.signals import post_save, pre_save


class AuditConfig(AppConfig):
    name = "audit"

    def ready(self) -> None:
        from auditlog.models import LogEntry
        from auditlog.registry import auditlog

        from . import lookups  # noqa: F401 - registers __any_of
        from .models import Finding, SamplingReport

        pre_save.connect(_date_new_entry, sender=LogEntry,
                         dispatch_uid="audit-date-new-entry")
        post_save.connect(_chain_new_entry, sender=LogEntry,
                          dispatch_uid="audit-chain-new-entry")
        auditlog.register(SamplingReport)
        auditlog.register(Finding)


def _date_new_entry(sender, instance, raw=False, **kwargs) -> None:
    # An entry is dated by the workflow's clock, like the decision it records
    # (the same moment as timezone.now(), unless a replay froze the clock).
    if instance._state.adding and not raw:
        from recovery_console import clock

        instance.timestamp = clock.now()


def _chain_new_entry(sender, instance, created, raw=False, **kwargs) -> None:
    # Every entry, whoever writes it (django-auditlog's model signals, our
    # events, the admin), joins the chain in the transaction that wrote it.
    if created and not raw:
        from .chain import append

        append([instance.pk])
