"""Whatever path changes a fact a recovery rests on (the admin, a management
command, a directory sync, a plain ``save()`` in the project's own code), the
recovery that rested on it dies in the same transaction.

These receivers only notice the change and call the one decision that owns
its consequence, ``workflow.void_basis``; they hold no rule of their own.
Bulk ``QuerySet.update()`` sends no signal: code that revokes channels in bulk
calls ``void_basis`` itself (``channels.revoke_stale``), and redemption and
enrolment check the facts again at use whatever happened before.
"""

from __future__ import annotations

from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from accounts.models import Identity, RecoveryChannel

CHANNEL_FIELDS = ("revoked_at", "kind", "address", "totp_device_id")


@receiver(pre_save, sender=RecoveryChannel, dispatch_uid="basis-channel-before")
def _channel_before(sender, instance: RecoveryChannel, raw: bool = False, **kwargs) -> None:
    if not raw and instance.pk is not None:
        instance._basis_before = sender.objects.filter(pk=instance.pk).values(
            *CHANNEL_FIELDS).first()


@receiver(post_save, sender=RecoveryChannel, dispatch_uid="basis-channel-after")
def _channel_after(sender, instance: RecoveryChannel, created: bool, raw: bool = False,
                   **kwargs) -> None:
    before = instance.__dict__.pop("_basis_before", None)
    if raw or created or before is None:
        return
    if before["revoked_at"] is None and instance.revoked_at is not None:
        cause = "channel_revoked"
    elif any(before[field] != getattr(instance, field) for field in CHANNEL_FIELDS[1:]):
        cause = "channel_changed"
    else:
        return
    _void(instance.identity, cause, channel=instance)


@receiver(pre_save, sender=Identity, dispatch_uid="basis-identity-before")
def _identity_before(sender, instance: Identity, raw: bool = False, **kwargs) -> None:
    if not raw and instance.pk is not None:
        instance._basis_was_active = sender.objects.filter(pk=instance.pk).values_list(
            "is_active", flat=True).first()


@receiver(post_save, sender=Identity, dispatch_uid="basis-identity-after")
def _identity_after(sender, instance: Identity, created: bool, raw: bool = False,
                    **kwargs) -> None:
    was_active = instance.__dict__.pop("_basis_was_active", None)
    if not raw and not created and was_active and not instance.is_active:
        _void(instance, "identity_inactive")


def _void(identity: Identity, cause: str, **kwargs) -> None:
    from . import workflow  # the workflow imports accounts' models: import when first needed

    workflow.void_basis(identity, cause, **kwargs)  # in the saver's transaction, if it has one
