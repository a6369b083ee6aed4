"""The recovery domain: notices owed to people (the outbox), and later cases,
steps, evidence, approvals and recovery credentials."""

from django.db import models
from django.utils import timezone

from accounts.models import Identity


class Notice(models.Model):
    """A message the system owes someone, written in the same transaction as
    the decision that owes it; delivered later by a worker."""

    class Medium(models.TextChoices):
        EMAIL = "email", "Email"
        SMS = "sms", "SMS"
        MONITORING = "monitoring", "Security monitoring"

    identity = models.ForeignKey(
        Identity, null=True, blank=True, on_delete=models.PROTECT, related_name="notices"
    )
    channel = models.ForeignKey(
        "accounts.RecoveryChannel",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="notices",
    )
    medium = models.CharField(max_length=12, choices=Medium.choices)
    event = models.CharField(max_length=64)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    idempotency_key = models.CharField(max_length=128, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["sent_at", "created_at"])]

    def __str__(self) -> str:
        return f"{self.event} to {self.channel or self.get_medium_display()}"
