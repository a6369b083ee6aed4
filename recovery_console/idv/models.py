"""A verification started at the provider for one step of one case, and the
provider events already taken (replay protection: an event is taken once)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from ..models import Evidence, RecoveryCase, ScriptStep


class IdentityVerification(models.Model):
    """One verification at the provider: bound to the case's step, to the
    person (``subject``, the reference the provider echoes back) and to the
    registered channel its link went to. Decided at most once, by a signed,
    fresh callback naming it; the evidence it produced is linked."""

    class Result(models.TextChoices):
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"

    case = models.ForeignKey(RecoveryCase, on_delete=models.PROTECT,
                             related_name="identity_verifications")
    step = models.ForeignKey(ScriptStep, on_delete=models.PROTECT, related_name="+")
    provider = models.CharField(max_length=20)
    external_id = models.CharField(max_length=100, unique=True,
                                   help_text="The verification's id at the provider.")
    subject = models.CharField(max_length=100,
                               help_text="The reference the console gave the provider for the "
                                         "person; the callback must carry the same.")
    channel = models.ForeignKey("accounts.RecoveryChannel", on_delete=models.PROTECT,
                                related_name="+")
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="+")
    started_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    result = models.CharField(max_length=8, choices=Result.choices, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by_event = models.CharField(max_length=100, blank=True)
    evidence = models.OneToOneField(Evidence, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="identity_verification")
    voided_at = models.DateTimeField(null=True, blank=True,
                                     help_text="Replaced by a newer one for the same step.")

    class Meta:
        ordering = ["-started_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "step"],
                condition=Q(result="", voided_at__isnull=True),
                name="one_open_identity_verification_per_step"),
            models.CheckConstraint(
                condition=Q(result__in=["", "passed", "failed"]),
                name="identity_verification_result_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} verification {self.external_id} for case {self.case_id}"


class ProviderEvent(models.Model):
    """A provider event the console took: the unique key makes a replayed
    event (same id, even re-signed) a refusal, whatever the race."""

    provider = models.CharField(max_length=20)
    event_id = models.CharField(max_length=100)
    verification = models.ForeignKey(IdentityVerification, on_delete=models.PROTECT,
                                     related_name="events")
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["provider", "event_id"],
                                               name="provider_event_taken_once")]

    def __str__(self) -> str:
        return f"{self.provider} event {self.event_id}"
