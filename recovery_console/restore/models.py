"""Restore targets (where access is restored, per population or tier) and
the restore attempts made at an external one, each the idempotency record of
one hand-off: a retry reads it before creating anything at the provider."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from ..models import PopulationRule, RecoveryCase, Tier

ENV_NAME = RegexValidator(r"^[A-Z][A-Z0-9_]{0,39}$", "Capital letters, digits and _ only, "
                          "starting with a letter: it names the RESTORE_<NAME>_… environment "
                          "variables that hold this target's credentials.")


class RestoreTarget(models.Model):
    """Where a population's (or a tier's) access is restored. Its
    credentials are never here: they come from the environment variables
    ``RESTORE_<NAME>_…`` (docs/restore-targets.md)."""

    class Kind(models.TextChoices):
        BUILT_IN = "built_in", "Built-in (the console's own recovery credential)"
        ENTRA = "entra", "Microsoft Entra ID (Temporary Access Pass)"
        OKTA = "okta", "Okta (Temporary Access Code)"
        KEYCLOAK = "keycloak", "Keycloak (passkey registration email)"

    class SubjectAttribute(models.TextChoices):
        EXTERNAL_ID = "external_id", "The id at the directory source"
        DIRECTORY_ID = "directory_id", "The directory id"

    name = models.CharField(max_length=40, unique=True, validators=[ENV_NAME])
    kind = models.CharField(max_length=10, choices=Kind.choices)
    population = models.CharField(
        max_length=20, choices=PopulationRule.Population.choices, blank=True,
        help_text="Whose access this target restores. Empty: everyone (of the tier below).")
    tier = models.CharField(max_length=12, choices=Tier.choices, blank=True,
                            help_text="Empty: every tier.")
    enabled = models.BooleanField(default=True)
    dry_run = models.BooleanField(
        default=True, help_text="Record the calls it would make at the provider without "
        "making them (an organisation's first trial). Nothing is restored.")
    remove_old_passkeys = models.BooleanField(
        default=True, help_text="Delete the person's passkeys at the provider.")
    revoke_sessions = models.BooleanField(
        default=True, help_text="End the person's sessions at the provider.")
    directory_source = models.ForeignKey(
        "directory.DirectorySource", null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", help_text="The directory whose ids the provider shares: only people "
        "managed by it can be restored here (external targets).")
    subject_attribute = models.CharField(
        "person's id at the provider", max_length=20, choices=SubjectAttribute.choices,
        default=SubjectAttribute.EXTERNAL_ID)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["population", "tier"], condition=Q(enabled=True),
                                    name="one_enabled_target_per_population_and_tier"),
            models.CheckConstraint(
                condition=Q(kind="built_in") | Q(directory_source__isnull=False),
                name="external_target_names_its_directory"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    @property
    def external(self) -> bool:
        return self.kind != self.Kind.BUILT_IN

    def clean(self):
        super().clean()
        if self.external and not self.directory_source_id:
            raise ValidationError({"directory_source": (
                "An external target names the directory whose ids its provider shares.")})


class RestoreAttempt(models.Model):
    """One hand-off of a case to an external target: the idempotency record
    keyed on case and attempt number. The provider's secret is kept only
    sealed (``restore.sealing``) until it is delivered or read out once."""

    class State(models.TextChoices):
        PENDING = "pending", "Waiting for the provider"
        CALLING = "calling", "Calling the provider"
        CREATED = "created", "Credential created at the provider"
        CONFIRMED = "confirmed", "Confirmed by the provider"
        FAILED = "failed", "Failed"
        DRY_RUN = "dry_run", "Dry run: nothing done"

    class Delivery(models.TextChoices):
        CHANNEL = "channel", "Sent to a registered channel"
        READ_OUT = "read_out", "Read out by the agent"
        PROVIDER = "provider", "Sent by the provider itself"

    OPEN = (State.PENDING, State.CALLING, State.CREATED)

    case = models.ForeignKey(RecoveryCase, on_delete=models.PROTECT,
                             related_name="restore_attempts")
    number = models.PositiveIntegerField()
    target = models.ForeignKey(RestoreTarget, on_delete=models.PROTECT, related_name="attempts")
    kind = models.CharField(max_length=10, choices=RestoreTarget.Kind.choices)
    dry_run = models.BooleanField(default=False)
    remove_old_passkeys = models.BooleanField(default=True)
    revoke_sessions = models.BooleanField(default=True)
    subject_id = models.CharField(max_length=255)
    lifetime_seconds = models.PositiveIntegerField()
    delivery = models.CharField(max_length=10, choices=Delivery.choices)
    channel = models.ForeignKey("accounts.RecoveryChannel", null=True, blank=True,
                                on_delete=models.PROTECT, related_name="+")
    issue_key = models.CharField(max_length=64, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                     related_name="+")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    tries = models.PositiveSmallIntegerField(default=0)
    # While a worker calls the provider; a lapsed lease means it died mid-call.
    lease_until = models.DateTimeField(null=True, blank=True)
    # Not tried before this (backoff, Retry-After); past it, the sweep
    # re-queues an attempt whose task was lost.
    next_try_at = models.DateTimeField(default=timezone.now)
    credential_id = models.CharField(max_length=255, blank=True)
    sealed_secret = models.TextField(blank=True)
    credential_expires_at = models.DateTimeField(null=True, blank=True)
    single_use = models.BooleanField(default=False)
    passkeys_removed = models.BooleanField(default=False)
    removed_passkeys = models.JSONField(default=list, blank=True)
    sessions_revoked = models.BooleanField(default=False)
    request_ids = models.JSONField(default=list, blank=True)
    calls = models.JSONField(default=list, blank=True)
    failure_kind = models.CharField(max_length=20, blank=True)
    failure_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    revealed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["case", "number"]
        indexes = [models.Index(fields=["state", "next_try_at"], name="restore_attempt_due_idx")]
        constraints = [
            models.UniqueConstraint(fields=["case", "number"], name="one_attempt_number_per_case"),
            models.UniqueConstraint(fields=["case", "issue_key"], condition=~Q(issue_key=""),
                                    name="one_attempt_per_issue_form"),
            models.UniqueConstraint(
                fields=["case"], condition=Q(state__in=["pending", "calling", "created"]),
                name="one_open_attempt_per_case"),
        ]

    def __str__(self) -> str:
        return f"Case {self.case_id}, attempt {self.number} ({self.get_kind_display()})"

    @property
    def idempotency_key(self) -> str:
        return f"case-{self.case_id}:attempt-{self.number}"

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN
