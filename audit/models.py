"""Tamper evidence for django-auditlog's log: a hash chain over its entries."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class ChainLink(models.Model):
    """One audit entry's place in the chain. ``entry_id`` is a plain number,
    not a foreign key, so deleting an entry leaves its link behind as proof."""

    sequence = models.PositiveBigIntegerField(unique=True)
    entry_id = models.BigIntegerField(unique=True)
    previous_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["sequence"]

    def __str__(self) -> str:
        return f"#{self.sequence} entry {self.entry_id}"


class ChainHead(models.Model):
    """The single row every append locks, so the chain never forks."""

    sequence = models.PositiveBigIntegerField(default=0)
    entry_hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"head #{self.sequence}"


class SamplingReport(models.Model):
    """A random but reproducible sample of recovery cases for review.

    The same period, size or rate, strata and seed always draw the same cases."""

    class Stratum(models.TextChoices):
        TIER = "tier", "Risk tier"
        AGENT = "agent", "Agent"
        KIND = "kind", "Identity kind"
        OUTCOME = "outcome", "Outcome"
        # Cases held by an agent marked for review after a repudiation (up to
        # the period's end) are all drawn first: see sampling._stratified.
        REPUDIATION = "repudiation", "Agent with a repudiation (over-sampled)"

    title = models.CharField(max_length=150)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="sampling_reports")
    created_at = models.DateTimeField(default=timezone.now)
    period_start = models.DateField()
    period_end = models.DateField(help_text="Inclusive.")
    sample_size = models.PositiveIntegerField(null=True, blank=True)
    sample_rate = models.DecimalField(max_digits=5, decimal_places=4, null=True, blank=True)
    strata = models.JSONField(default=list, blank=True)
    seed = models.BigIntegerField()
    include_open = models.BooleanField(
        default=False,
        help_text="Drawn from open cases as well; by default only closed cases (whose story "
                  "is complete) are sampled.")
    population = models.PositiveIntegerField()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(period_start__lte=models.F("period_end")),
                name="sampling_period_in_order",
            ),
            models.CheckConstraint(
                condition=models.Q(sample_size__isnull=False) | models.Q(sample_rate__isnull=False),
                name="sampling_has_size_or_rate",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.period_start}–{self.period_end})"

    @property
    def strata_labels(self) -> list[str]:
        """The strata as people read them ("Risk tier", "Outcome")."""
        return [self.Stratum(s).label if s in self.Stratum.values else s for s in self.strata]


class SampledCase(models.Model):
    report = models.ForeignKey(SamplingReport, on_delete=models.CASCADE, related_name="sampled")
    case = models.ForeignKey("recovery.RecoveryCase", on_delete=models.PROTECT,
                             related_name="samplings")
    stratum = models.CharField(max_length=200, blank=True)
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["report", "case"], name="case_sampled_once"),
        ]

    def __str__(self) -> str:
        return f"{self.report_id}/{self.case_id}"


class Finding(models.Model):
    """An auditor's verdict on one sampled case. One per case per report;
    a new verdict replaces the old one, and both stay in the audit trail."""

    class Verdict(models.TextChoices):
        OK = "ok", "OK"
        ISSUE = "issue", "Issue"

    sampled = models.OneToOneField(SampledCase, on_delete=models.PROTECT, related_name="finding")
    auditor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                related_name="findings")
    verdict = models.CharField(max_length=5, choices=Verdict.choices)
    note = models.CharField(max_length=2000, blank=True)
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(verdict="ok") | ~models.Q(note=""),
                name="issue_finding_has_note",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_verdict_display()} on {self.sampled}"
