"""Passkey rollout: cohorts (rules over identities), plans that order them
into waves, and what each wave keeps about its members (invitations,
exceptions, sign-ins that report-only mode would have refused).

Every change here is a decision in ``rollout.workflow``; these classes only
hold the facts and the rules that are data."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.identifiers import canonical
from accounts.validators import validate_no_control_characters

from ..models import SingleUseSecret, Tier

ONE_LINE = [validate_no_control_characters]
PERCENT = [MinValueValidator(0), MaxValueValidator(100)]


class Cohort(models.Model):
    """A named rule over identities. Every condition set must hold (an
    empty one matches everyone); only active identities are members."""

    class Privileged(models.TextChoices):
        ANY = "", "Privileged or not"
        YES = "yes", "Privileged only"
        NO = "no", "Not privileged"

    name = models.CharField(max_length=100, unique=True, validators=ONE_LINE)
    description = models.TextField(blank=True)
    directory_group = models.CharField(
        max_length=255, blank=True, validators=ONE_LINE,
        help_text="Members of this directory group (name or DN, compared ignoring case).")
    directory_group_key = models.TextField(blank=True, editable=False)
    kind = models.CharField(max_length=20, blank=True,
                            choices=[("", "Any kind"), *[
                                ("employee", "Employee"), ("contractor", "Contractor"),
                                ("partner", "Partner"), ("service_account", "Service account")]])
    department = models.CharField(max_length=100, blank=True, validators=ONE_LINE,
                                  help_text="Compared ignoring case.")
    base_tier = models.CharField(
        max_length=12, blank=True, choices=[("", "Any tier"), *Tier.choices],
        help_text="The tier a recovery of the person starts from, before any recent signal.")
    privileged = models.CharField(max_length=3, blank=True, choices=Privileged.choices)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT,
                                   related_name="+", editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        self.directory_group_key = canonical(self.directory_group.strip())
        if kwargs.get("update_fields") is not None and "directory_group" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], "directory_group_key"}
        super().save(*args, **kwargs)


class RolloutPlan(models.Model):
    """Cohorts in waves, and the thresholds every wave of the plan meets
    before it may enforce, and the help-desk load it may cause."""

    name = models.CharField(max_length=100, unique=True, validators=ONE_LINE)
    description = models.TextField(blank=True)
    passkey_share_required = models.PositiveSmallIntegerField(
        default=90, validators=PERCENT,
        help_text="Percent of a wave's members who must have a passkey before it enforces.")
    channel_share_required = models.PositiveSmallIntegerField(
        default=95, validators=PERCENT,
        help_text="Percent of a wave's members who must have a usable recovery channel "
                  "(verified, confirmed recently, not changed recently).")
    report_only_period = models.DurationField(
        default=timedelta(days=7),
        help_text="How long a wave runs in report-only mode before it may enforce.")
    invite_period = models.DurationField(
        default=timedelta(days=14), help_text="From invitation to the enrolment deadline.")
    reminder_interval = models.DurationField(default=timedelta(days=3))
    snooze_limit = models.PositiveSmallIntegerField(
        default=2, validators=[MaxValueValidator(10)],
        help_text="How many times a person may put off enrolling.")
    snooze_period = models.DurationField(default=timedelta(days=3))
    daily_case_limit = models.PositiveIntegerField(
        default=20, validators=[MinValueValidator(1)],
        help_text="Recovery cases per day opened by members of one active wave; "
                  "past it the wave pauses itself.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT,
                                   related_name="+", editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Wave(models.Model):
    """One cohort's turn in a plan, moving pilot -> invite -> report-only ->
    enforce -> done. A paused wave sends nothing and enforces nothing new."""

    class Stage(models.TextChoices):
        PILOT = "pilot", "Pilot"
        INVITE = "invite", "Invite"
        REPORT_ONLY = "report_only", "Report-only"
        ENFORCE = "enforce", "Enforce"
        DONE = "done", "Done"

    plan = models.ForeignKey(RolloutPlan, on_delete=models.CASCADE, related_name="waves")
    cohort = models.ForeignKey(Cohort, on_delete=models.PROTECT, related_name="waves")
    position = models.PositiveSmallIntegerField(help_text="The wave's order in its plan (1 first).")
    stage = models.CharField(max_length=12, choices=Stage.choices, default=Stage.PILOT)
    stage_since = models.DateTimeField(default=timezone.now)
    pilot_members = models.ManyToManyField(
        "accounts.Identity", blank=True, related_name="pilot_waves",
        help_text="The named sample invited during the pilot.")
    enrol_by = models.DateTimeField(null=True, blank=True,
                                    help_text="The enrolment deadline of the invite stage.")
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["plan", "position"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "position"], name="one_wave_per_position"),
            models.UniqueConstraint(fields=["plan", "cohort"], name="one_wave_per_cohort_in_plan"),
        ]

    def __str__(self) -> str:
        return f"{self.plan} · wave {self.position} ({self.cohort})"

    @property
    def active(self) -> bool:
        """Inviting, reporting or enforcing: members are being moved to passkeys."""
        return self.stage in (self.Stage.INVITE, self.Stage.REPORT_ONLY, self.Stage.ENFORCE)


class Invitation(models.Model):
    """A member asked to enrol a passkey by one wave: when, until when,
    how often reminded, how many snoozes used, and when they enrolled."""

    wave = models.ForeignKey(Wave, on_delete=models.CASCADE, related_name="invitations")
    identity = models.ForeignKey("accounts.Identity", on_delete=models.CASCADE,
                                 related_name="rollout_invitations")
    invited_at = models.DateTimeField(default=timezone.now)
    enrol_by = models.DateTimeField()
    reminders_sent = models.PositiveSmallIntegerField(default=0)
    last_reminded_at = models.DateTimeField(null=True, blank=True)
    snoozes_used = models.PositiveSmallIntegerField(default=0)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    enrolled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["wave", "identity"],
                                               name="one_invitation_per_member")]
        indexes = [models.Index(fields=["identity", "wave"])]

    def __str__(self) -> str:
        return f"{self.identity} invited by {self.wave}"


class EnrolmentLink(SingleUseSecret):
    """The link an invitation or reminder carries. Opening it still needs
    the person's own sign-in; it only leads to enrolment, once."""

    invitation = models.ForeignKey(Invitation, on_delete=models.CASCADE, related_name="links")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["digest"], name="enrolment_link_digest")]


class WaveException(models.Model):
    """A named person excused from a wave's stage until ``expires_at``."""

    wave = models.ForeignKey(Wave, on_delete=models.CASCADE, related_name="exceptions")
    identity = models.ForeignKey("accounts.Identity", on_delete=models.CASCADE,
                                 related_name="rollout_exceptions")
    stage = models.CharField(max_length=12, choices=[
        (Wave.Stage.INVITE, "Invitations and reminders"),
        (Wave.Stage.ENFORCE, "Enforcement (report-only included)")])
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                              related_name="owned_rollout_exceptions",
                              help_text="Who answers for the exception and is told when it ends.")
    reason = models.TextField()
    expires_at = models.DateTimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="+", editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["expires_at"]
        constraints = [models.UniqueConstraint(
            fields=["wave", "identity", "stage"], condition=Q(ended_at__isnull=True),
            name="one_open_exception_per_member_and_stage")]

    def __str__(self) -> str:
        return f"{self.identity} excused from {self.get_stage_display().lower()} of {self.wave}"


class WouldRefuse(models.Model):
    """A sign-in that enforcement would have refused, recorded while the
    wave runs in report-only mode: who, when, why."""

    class Why(models.TextChoices):
        NO_PASSKEY = "no_passkey", "Signed in without a passkey"

    wave = models.ForeignKey(Wave, on_delete=models.CASCADE, related_name="would_refuse")
    identity = models.ForeignKey("accounts.Identity", on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    why = models.CharField(max_length=20, choices=Why.choices)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["wave", "-at"])]

    def __str__(self) -> str:
        return f"{self.identity}: {self.get_why_display()}"


class ReadinessSnapshot(models.Model):
    """A day's readiness counts for one cohort (or, with none, the whole
    organisation): the points of the trend charts."""

    day = models.DateField()
    cohort = models.ForeignKey(Cohort, null=True, blank=True, on_delete=models.CASCADE,
                               related_name="snapshots")
    members = models.PositiveIntegerField()
    with_passkey = models.PositiveIntegerField()
    with_channel = models.PositiveIntegerField()
    ready = models.PositiveIntegerField(help_text="A passkey and a usable recovery channel.")
    with_nothing = models.PositiveIntegerField()
    privileged = models.PositiveIntegerField()
    privileged_ready = models.PositiveIntegerField()

    class Meta:
        ordering = ["day"]
        constraints = [
            models.UniqueConstraint(fields=["day", "cohort"], name="one_snapshot_per_cohort_day"),
            models.UniqueConstraint(fields=["day"], condition=Q(cohort__isnull=True),
                                    name="one_organisation_snapshot_per_day"),
        ]

    def __str__(self) -> str:
        return f"{self.cohort or 'Organisation'} on {self.day}"
