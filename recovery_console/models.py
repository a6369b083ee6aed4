"""The recovery domain: notices owed to people (the outbox), policies and
scripts per risk tier, cases, evidence, approvals, recovery credentials and
recovery sessions.

Secrets (channel codes, attestation links, recovery credentials, recovery
session tokens, repudiation links) are stored only as keyed hashes (see
``recovery_console.tokens``) in models built on ``SingleUseSecret``, which
holds the one rule for using such a secret once.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connections, models
from django.db.models import Q, sql
from django.db.models.functions import Length, Now
from django.db.models.lookups import GreaterThan, LessThanOrEqual
from django.utils import timezone
from guardian.models import UserObjectPermissionBase

from accounts.models import Identity


class Notice(models.Model):
    """A message the system owes someone, written in the same transaction as
    the decision that owes it; delivered later by a worker."""

    class Medium(models.TextChoices):
        EMAIL = "email", "Email"
        SMS = "sms", "SMS"
        MONITORING = "monitoring", "Security monitoring"
        # Shown on the person's own portal page: delivered as soon as it is written.
        PORTAL = "portal", "On the portal"

    identity = models.ForeignKey(
        Identity, null=True, blank=True, on_delete=models.PROTECT, related_name="notices"
    )
    channel = models.ForeignKey(
        "accounts.RecoveryChannel", null=True, blank=True, on_delete=models.PROTECT,
        related_name="notices",
    )
    medium = models.CharField(max_length=12, choices=Medium.choices)
    event = models.CharField(max_length=64)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    idempotency_key = models.CharField(max_length=128, unique=True)
    carries_secret = models.BooleanField(
        default=False, help_text="The body holds a code or link: blanked once delivered.")
    case = models.ForeignKey(
        "RecoveryCase", null=True, blank=True, on_delete=models.PROTECT, related_name="notices",
        help_text="The case this notice belongs to: its correlation id.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["sent_at", "created_at"]),
            models.Index(
                fields=["next_attempt_at"], name="notice_due_idx",
                condition=models.Q(sent_at__isnull=True, failed_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} to {self.channel or self.get_medium_display()}"


class Tier(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    RESTRICTED = "restricted", "Restricted"

    # The order of the tiers is the order above, from low to restricted: the
    # one place it is defined (risk assessment, population rules and
    # escalation all compare tiers through it).
    @classmethod
    def rank(cls, tier: str) -> int:
        return cls.values.index(tier)

    @classmethod
    def one_up(cls, tier: str) -> str:
        """The next stricter tier; restricted stays restricted."""
        values = cls.values
        return values[min(cls.rank(tier) + 1, len(values) - 1)]


MAX_CREDENTIAL_LIFETIME = timedelta(hours=24)


class VerificationScript(models.Model):
    """The ordered checks an agent follows to prove a caller's identity."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)

    def __str__(self) -> str:
        return self.name


class StepKind(models.TextChoices):
    """What a script step checks (``ScriptStep.Kind``); at module level so
    the step's check constraint can list the same values."""

    CHANNEL_CODE = "channel_code", "Code sent to a registered channel"
    TOTP = "totp", "Authenticator code"
    ATTESTATION = "attestation", "Manager, sponsor or owner attestation"
    CALLBACK = "callback", "Call back the directory number"
    ID_DOCUMENT = "id_document", "Official identity document"
    KNOWLEDGE = "knowledge", "Knowledge question (weak)"
    IDENTITY_VERIFICATION = "idv", "Document and liveness check by a verification provider"


class ScriptStep(models.Model):
    Kind = StepKind

    script = models.ForeignKey(VerificationScript, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    title = models.CharField(max_length=120)
    instructions = models.TextField(help_text="What the agent reads or does, word for word.")
    required = models.BooleanField(default=True)

    class Meta:
        ordering = ["script", "position"]
        constraints = [
            models.UniqueConstraint(fields=["script", "position"], name="step_position_unique"),
            models.CheckConstraint(
                condition=Q(kind__in=StepKind.values), name="step_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.title}"


class RecoveryPolicy(models.Model):
    """What a tier demands: its script, approvals, and the limits of the
    recovery credential. Frozen onto each case when it opens."""

    tier = models.CharField(max_length=12, choices=Tier.choices, unique=True)
    script = models.ForeignKey(
        VerificationScript, on_delete=models.PROTECT, related_name="policies"
    )
    approvals_required = models.PositiveSmallIntegerField(
        default=0, help_text="Distinct supervisors who must approve (high: 1, restricted: 2)."
    )
    credential_lifetime = models.DurationField(
        default=timedelta(minutes=30), help_text="Never above 24 hours."
    )
    max_redemption_attempts = models.PositiveSmallIntegerField(default=5)
    self_service_allowed = models.BooleanField(default=True)
    revoke_old_passkeys = models.BooleanField(default=True)
    watch_period = models.DurationField(default=timedelta(hours=72))
    channel_max_age = models.DurationField(
        default=timedelta(days=180),
        help_text="A channel unconfirmed for longer is stale and cannot be used as evidence.",
    )
    untrusted_if_changed_within = models.DurationField(
        default=timedelta(0),
        help_text="Channels changed more recently than this cannot be used (0: no limit).",
    )
    # Velocity per person (workflow.opening): the strictest policy's values
    # hold for everyone, since they decide before the tier is known.
    repeat_window = models.DurationField(
        default=timedelta(days=30),
        help_text="Recoveries of one person opened within this window count together: the "
                  "second raises the tier and alerts.")
    refuse_from = models.PositiveSmallIntegerField(
        default=3,
        help_text="The recovery number (within the window) the help desk refuses and routes "
                  "to security; a security admin may allow one more.")

    class Meta:
        verbose_name_plural = "recovery policies"
        ordering = ["tier"]
        constraints = [
            models.CheckConstraint(
                condition=Q(credential_lifetime__gt=timedelta(0))
                & Q(credential_lifetime__lte=MAX_CREDENTIAL_LIFETIME),
                name="policy_credential_lifetime_at_most_24h",
            ),
            models.CheckConstraint(
                condition=Q(approvals_required__lte=3), name="policy_approvals_at_most_3"
            ),
            models.CheckConstraint(
                condition=Q(max_redemption_attempts__gte=1, max_redemption_attempts__lte=10),
                name="policy_redemption_attempts_1_to_10",
            ),
            models.CheckConstraint(
                condition=Q(repeat_window__gt=timedelta(0)) & Q(refuse_from__gte=2),
                name="policy_velocity_window_and_refusal_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_tier_display()} tier policy"

    def snapshot(self) -> dict:
        return {
            "approvals_required": self.approvals_required,
            "credential_lifetime": self.credential_lifetime.total_seconds(),
            "max_redemption_attempts": self.max_redemption_attempts,
            "self_service_allowed": self.self_service_allowed,
            "revoke_old_passkeys": self.revoke_old_passkeys,
            "watch_period": self.watch_period.total_seconds(),
            "channel_max_age": self.channel_max_age.total_seconds(),
            "untrusted_if_changed_within": self.untrusted_if_changed_within.total_seconds(),
        }


@dataclass(frozen=True)
class Rules:
    """A policy as it stood when the case opened (later admin edits do not
    loosen an open case)."""

    approvals_required: int
    credential_lifetime: timedelta
    max_redemption_attempts: int
    self_service_allowed: bool
    revoke_old_passkeys: bool
    watch_period: timedelta
    channel_max_age: timedelta
    untrusted_if_changed_within: timedelta
    # Set from the population rules (recovery_console.populations).
    path: str = "passkey"
    approver_role: str = "supervisor"
    population_notes: tuple = ()

    @classmethod
    def from_snapshot(cls, data: dict) -> "Rules":
        seconds = {"credential_lifetime", "watch_period", "channel_max_age",
                   "untrusted_if_changed_within"}
        rules = {k: timedelta(seconds=v) if k in seconds
                 else tuple(v) if isinstance(v, list) else v
                 for k, v in data.items() if k in cls.__dataclass_fields__}
        if "population_notes" in rules:
            rules["population_notes"] = tuple(map(unrepeated, rules["population_notes"]))
        return cls(**rules)


def names_population(label: str, text: str) -> bool:
    """Whether ``text`` already starts with the population ``label`` names
    ("Privileged people (administrators, ...)" names "Privileged people")."""
    return text.casefold().startswith(label.split(" (")[0].casefold())


def unrepeated(note: str) -> str:
    """A population note as the case page shows it. Cases opened before the
    notes named their population once keep "Contractors: Contractors: ..." in
    their frozen snapshot; the page reads it as the note written today would be."""
    label, colon, explanation = note.partition(": ")
    return explanation if colon and names_population(label, explanation) else note


class CaseState(models.TextChoices):
    """Where a recovery case is (``RecoveryCase.State``); at module level so
    the case's constraints can name the same states."""

    NEW = "new", "New"
    VERIFYING = "verifying", "Verifying"
    VERIFIED = "verified", "Verified"
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    APPROVED = "approved", "Approved"
    CREDENTIAL_ISSUED = "credential_issued", "Credential issued"
    # An external restore target is creating the provider's own credential
    # (recovery_console.restore): open, waiting for the provider to confirm.
    RESTORING = "restoring", "Restoring at the provider"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"
    DENIED = "denied", "Denied"
    EXPIRED = "expired", "Expired"


# A case in one of these is still going (``RecoveryCase.OPEN_STATES``): at most
# one per identity; the others are closed for good.
OPEN_CASE_STATES = (
    CaseState.NEW, CaseState.VERIFYING, CaseState.VERIFIED, CaseState.AWAITING_APPROVAL,
    CaseState.APPROVED, CaseState.CREDENTIAL_ISSUED, CaseState.RESTORING,
)


class Team(models.Model):
    """A help-desk team (security admins keep them in the admin). Its agents
    see and work only the cases routed to it: people of the populations it
    serves, up to its highest tier. A case that outgrows it (escalated past
    that tier) moves to the team it escalates to. Agents in no team are the
    console's own desk: they see every case no team serves. The norms are
    the team's velocity limits for each of its agents and for the team."""

    name = models.CharField(max_length=100, unique=True)
    serves = models.JSONField(
        default=list, blank=True,
        help_text="The populations whose cases this team takes (PopulationRule populations). "
                  "A privileged person is served only by a team that serves privileged people.")
    highest_tier = models.CharField(max_length=12, choices=Tier.choices, default=Tier.RESTRICTED,
                                    help_text="Cases above this tier go to the next team.")
    escalates_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="Where a case goes when it outgrows this team (else: to whichever team "
                  "serves it, or the console's own desk).")
    routing_order = models.PositiveSmallIntegerField(
        default=100, help_text="A new case goes to the first team (lowest number) that serves it.")
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="teams")
    hourly_norm = models.PositiveSmallIntegerField(
        default=6, help_text="Recovery credentials one agent usually issues in an hour.")
    daily_norm = models.PositiveSmallIntegerField(
        default=30, help_text="Recovery credentials one agent usually issues in a day.")
    daily_limit = models.PositiveSmallIntegerField(
        default=50, help_text="Past this many in a day, each further issue by the agent "
                              "needs a supervisor.")
    privileged_per_hour = models.PositiveSmallIntegerField(
        default=3, help_text="Recoveries of privileged people opened for this team in one "
                             "hour that alert security at once.")

    class Meta:
        ordering = ["routing_order", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(highest_tier__in=Tier.values),
                                   name="team_highest_tier_valid"),
        ]

    def __str__(self) -> str:
        return self.name


class RecoveryCase(models.Model):
    """One request to restore access for one identity."""

    State = CaseState
    OPEN_STATES = OPEN_CASE_STATES

    class Source(models.TextChoices):
        SELF_SERVICE = "self_service", "Self-service request"
        DESK = "desk", "Service desk"
        REPUDIATION = "repudiation", "“This wasn't me” link"

    identity = models.ForeignKey(Identity, on_delete=models.PROTECT, related_name="recovery_cases")
    tier = models.CharField(max_length=12, choices=Tier.choices)
    tier_reasons = models.JSONField(default=list)
    policy = models.ForeignKey(RecoveryPolicy, on_delete=models.PROTECT, related_name="cases")
    policy_snapshot = models.JSONField()
    script = models.ForeignKey(VerificationScript, on_delete=models.PROTECT, related_name="cases")
    state = models.CharField(max_length=20, choices=State.choices, default=State.NEW)
    source = models.CharField(max_length=12, choices=Source.choices)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="opened_recovery_cases",
    )
    # No index of its own: case_agent_idx (agent, state) serves every lookup
    # by agent, and each index is one more write when the sweep closes a case.
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="claimed_recovery_cases", db_index=False,
    )
    opened_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    deadline = models.DateTimeField()
    watch_until = models.DateTimeField(null=True, blank=True)
    closing_reason = models.CharField(max_length=500, blank=True)
    high_priority = models.BooleanField(
        default=False, help_text="Opened because a recovery was repudiated: work it first.")
    # Set by workflow.escalate: the agent could not verify under the tier it
    # opened with, so it was raised and handed to supervisors' attention.
    escalated_at = models.DateTimeField(null=True, blank=True)
    escalated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )
    escalation_reason = models.CharField(max_length=500, blank=True)
    # The help-desk team whose queue holds the case (None: the console's own
    # desk, agents in no team). Set when it opens, moved when it outgrows it.
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.PROTECT,
                             related_name="cases")
    # Set by workflow.lost_device: a passkey the person had when the case
    # opened (so reported lost) signed in since. Issuing waits until a
    # supervisor reviews it; a later use flags the case again.
    lost_device_used_at = models.DateTimeField(null=True, blank=True)
    lost_device_detail = models.CharField(max_length=500, blank=True)
    lost_device_reviewed_at = models.DateTimeField(null=True, blank=True)
    lost_device_reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )
    lost_device_review_note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["opened_at"]
        permissions = [("work_recoverycase", "Work on this recovery case")]
        indexes = [
            models.Index(fields=["state", "tier", "opened_at"], name="case_queue_idx"),
            models.Index(fields=["agent", "state"], name="case_agent_idx"),
            models.Index(fields=["deadline"], name="case_deadline_idx"),
            # The approvals list, nearest deadline first, whatever the backlog.
            models.Index(fields=["deadline", "id"], name="case_awaiting_deadline_idx",
                         condition=Q(state=CaseState.AWAITING_APPROVAL)),
            # Supervisors' list of "lost" passkeys that signed in, unreviewed.
            models.Index(fields=["lost_device_used_at"], name="case_lost_device_review_idx",
                         condition=Q(lost_device_used_at__isnull=False,
                                     lost_device_reviewed_at__isnull=True)),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["identity"], condition=Q(state__in=list(OPEN_CASE_STATES)),
                name="one_open_case_per_identity",
            ),
            models.CheckConstraint(
                condition=Q(state__in=CaseState.values), name="case_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(tier__in=Tier.values),
                name="case_tier_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"Case {self.pk} ({self.identity.display_name})"

    @property
    def rules(self) -> Rules:
        return Rules.from_snapshot(self.policy_snapshot)

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN_STATES

    @property
    def lost_device_unreviewed(self) -> bool:
        """A "lost" passkey signed in and no supervisor has reviewed it yet."""
        return self.lost_device_used_at is not None and self.lost_device_reviewed_at is None


class RecoveryCaseUserObjectPermission(UserObjectPermissionBase):
    """django-guardian object permissions on cases, with a real foreign key
    (joins instead of string-matched generic keys)."""

    content_object = models.ForeignKey(RecoveryCase, on_delete=models.CASCADE)

    class Meta(UserObjectPermissionBase.Meta):
        pass


class Evidence(models.Model):
    """What one step showed. Append-only: never edited, never deleted."""

    class Result(models.TextChoices):
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"

    case = models.ForeignKey(RecoveryCase, on_delete=models.PROTECT, related_name="evidence")
    step = models.ForeignKey(ScriptStep, on_delete=models.PROTECT, related_name="evidence")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )
    attester = models.ForeignKey(
        Identity, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    channel = models.ForeignKey(
        "accounts.RecoveryChannel", null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )
    result = models.CharField(max_length=8, choices=Result.choices)
    note = models.CharField(max_length=500, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "evidence"
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["case", "step", "result"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(result__in=["passed", "failed"]), name="evidence_result_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.step.get_kind_display()}: {self.get_result_display()}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise ValueError("Evidence is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Evidence is append-only.")


NOTE_MAX_LENGTH = 2000


class CaseNote(models.Model):
    """What an agent or supervisor wrote on a case: a plain note
    (``workflow.add_note``) or the note given with a hand-over or a
    reassignment (``occasion`` says which, in words). Append-only, like
    evidence: never edited, never deleted."""

    case = models.ForeignKey(RecoveryCase, on_delete=models.PROTECT, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
    )
    # Line breaks kept ("\n" only); other control characters refused by the workflow.
    text = models.TextField(max_length=NOTE_MAX_LENGTH)
    occasion = models.CharField(max_length=300, blank=True,
                                help_text="Empty for a plain note; else what it came with.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=GreaterThan(Length("text"), 0)
                & LessThanOrEqual(Length("text"), NOTE_MAX_LENGTH),
                name="case_note_text_length",
            ),
        ]

    def __str__(self) -> str:
        return f"Note on case {self.case_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise ValueError("Case notes are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Case notes are append-only.")


class SingleUseSecretQuerySet(models.QuerySet):
    def live(self, now=None):
        """Neither used nor voided; with ``now``, not expired at it either."""
        live = self.filter(used_at__isnull=True, voided_at__isnull=True)
        return live if now is None else live.filter(expires_at__gt=now)

    def void(self, now) -> int:
        """Void every live secret here: they can no longer be used."""
        return self.live().update(voided_at=now)

    def update_returning(self, **values) -> list:
        """``update(**values)`` that returns the rows it changed, as they are
        after it, in the same statement (UPDATE ... RETURNING): a conditional
        UPDATE that also reads what it won, without a second round trip. The
        rows here must be those of one table (filters on its own columns)."""
        self._for_write = True  # the database writes go to, as for update()
        query = self.query.chain(sql.UpdateQuery)
        query.add_update_values(values)
        try:
            statement, params = query.get_compiler(self.db).as_sql()
        except EmptyResultSet:
            return []
        columns = ", ".join(connections[self.db].ops.quote_name(field.column)
                            for field in self.model._meta.concrete_fields)
        return list(self.raw(f"{statement} RETURNING {columns}", params, using=self.db))


class SingleUseSecret(models.Model):
    """A secret handed out once: kept only as a keyed hash (``digest``),
    usable until ``expires_at``, at most once (``used_at``), and dead early
    when the facts it rested on change (``voided_at``)."""

    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)

    objects = SingleUseSecretQuerySet.as_manager()

    class Meta:
        abstract = True

    def unusable_because(self, now) -> str:
        """"used", "voided" or "expired"; empty while it may still be used."""
        if self.used_at is not None:
            return "used"
        if self.voided_at is not None:
            return "voided"
        return "expired" if self.expires_at <= now else ""

    def consume(self, now, *, database_clock: bool = False, **also) -> bool:
        """Use the secret at ``now``: one conditional UPDATE, so of two
        racing requests exactly one wins, whether or not the caller holds a
        row lock. With ``database_clock`` the deadline holds by the
        database's clock as well (where a request from outside presents the
        secret; replayed history passes past moments and leaves it off).
        ``also`` is written with it. True when this call used it."""
        live = type(self).objects.live(now).filter(pk=self.pk)
        if database_clock:
            live = live.filter(expires_at__gt=Now())
        won = live.update(used_at=now, **also)
        if won:
            self.used_at = now
            for name, value in also.items():
                setattr(self, name, value)
        return bool(won)


class ChannelCode(SingleUseSecret):
    """A one-time code sent to a registered channel for a channel_code step."""

    case = models.ForeignKey(RecoveryCase, on_delete=models.CASCADE, related_name="channel_codes")
    step = models.ForeignKey(ScriptStep, on_delete=models.PROTECT, related_name="+")
    channel = models.ForeignKey(
        "accounts.RecoveryChannel", on_delete=models.PROTECT, related_name="+"
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=5)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "step"], condition=Q(used_at__isnull=True, voided_at__isnull=True),
                name="one_live_channel_code_per_step",
            ),
            models.CheckConstraint(
                condition=Q(attempts__lte=models.F("max_attempts")),
                name="channel_code_attempts_within_max",
            ),
        ]

    def __str__(self) -> str:
        return f"Code for case {self.case_id} to {self.channel}"


class Attestation(SingleUseSecret):
    """A manager's, sponsor's or owner's confirmation, asked on their own channel."""

    class Decision(models.TextChoices):
        CONFIRM = "confirm", "Confirmed"
        REFUSE = "refuse", "Refused"

    case = models.ForeignKey(RecoveryCase, on_delete=models.CASCADE, related_name="attestations")
    step = models.ForeignKey(ScriptStep, on_delete=models.PROTECT, related_name="+")
    attester = models.ForeignKey(Identity, on_delete=models.PROTECT, related_name="attestations")
    relation = models.CharField(max_length=30)
    channel = models.ForeignKey(
        "accounts.RecoveryChannel", on_delete=models.PROTECT, related_name="+"
    )
    digest = models.CharField(max_length=64, unique=True)  # the link is looked up by it
    decision = models.CharField(max_length=8, choices=Decision.choices, blank=True,
                                help_text="Set when the link is used (answered).")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "step"],
                condition=Q(used_at__isnull=True, voided_at__isnull=True),
                name="one_pending_attestation_per_step",
            ),
            models.CheckConstraint(
                condition=Q(used_at__isnull=True, decision="")
                | Q(used_at__isnull=False, decision__in=["confirm", "refuse"]),
                name="attestation_answer_has_decision",
            ),
        ]

    def __str__(self) -> str:
        return f"Attestation by {self.attester} for case {self.case_id}"


class Approval(models.Model):
    """A supervisor's decision on a case, with the step-up that preceded it."""

    class Decision(models.TextChoices):
        APPROVE = "approve", "Approved"
        DENY = "deny", "Denied"

    case = models.ForeignKey(RecoveryCase, on_delete=models.PROTECT, related_name="approvals")
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="recovery_approvals"
    )
    decision = models.CharField(max_length=8, choices=Decision.choices)
    reason = models.CharField(max_length=1000)
    step_up_device = models.CharField(max_length=200)
    step_up_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["case", "approver"], name="one_decision_per_approver"),
            models.CheckConstraint(condition=~Q(reason=""), name="approval_reason_required"),
            models.CheckConstraint(
                condition=Q(decision__in=["approve", "deny"]), name="approval_decision_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} by {self.approver} on case {self.case_id}"


class RecoveryCredential(SingleUseSecret):
    """What restores access: a link (``handle``, not secret alone) plus a
    code of at least 80 bits kept only as an HMAC-SHA256."""

    class Delivery(models.TextChoices):
        CHANNEL = "channel", "Sent to a registered channel"
        READ_OUT = "read_out", "Read out by the agent"

    case = models.ForeignKey(RecoveryCase, on_delete=models.PROTECT, related_name="credentials")
    identity = models.ForeignKey(Identity, on_delete=models.PROTECT, related_name="+")
    handle = models.CharField(max_length=64, unique=True)
    # What the person types at the short fixed address when the credential
    # is read out on the phone (with the code): a lookup, not a secret.
    reference = models.CharField(max_length=16, unique=True, null=True, blank=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    delivery = models.CharField(max_length=10, choices=Delivery.choices)
    channel = models.ForeignKey(
        "accounts.RecoveryChannel", null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )
    # Keyed hash of the delivery channel as it was at issue (kind, address,
    # device): a channel changed by any path no longer matches.
    channel_fingerprint = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=5)
    void_cause = models.CharField(max_length=30, blank=True)
    issue_key = models.CharField(
        max_length=64, blank=True, default="",
        help_text="The issue form's one-time key: a resubmitted form issues nothing.")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["expires_at"], name="credential_expiry_idx",
                                condition=Q(used_at__isnull=True, voided_at__isnull=True))]
        constraints = [
            models.UniqueConstraint(fields=["case", "issue_key"], condition=~Q(issue_key=""),
                                    name="credential_issue_key_once_per_case"),
            models.UniqueConstraint(
                fields=["case"], condition=Q(used_at__isnull=True, voided_at__isnull=True),
                name="one_live_credential_per_case",
            ),
            models.CheckConstraint(
                condition=Q(attempts__lte=models.F("max_attempts")),
                name="credential_attempts_within_max",
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("created_at")),
                name="credential_expires_after_creation",
            ),
        ]

    def __str__(self) -> str:
        return f"Recovery credential for case {self.case_id}"


class RecoverySession(SingleUseSecret):
    """What redeeming a credential opens: its only power is enrolling a passkey."""

    case = models.ForeignKey(RecoveryCase, on_delete=models.PROTECT, related_name="sessions")
    identity = models.ForeignKey(Identity, on_delete=models.PROTECT, related_name="+")
    credential = models.OneToOneField(
        RecoveryCredential, on_delete=models.PROTECT, related_name="session"
    )
    digest = models.CharField(max_length=64, unique=True)  # the browser's token

    class Meta:
        ordering = ["-created_at"]
        # The sweep's "is a session still live?" reads only the unused ones.
        indexes = [models.Index(fields=["expires_at"], name="recovery_session_expiry_idx",
                                condition=Q(used_at__isnull=True, voided_at__isnull=True))]

    def __str__(self) -> str:
        return f"Recovery session for case {self.case_id}"


class Repudiation(SingleUseSecret):
    """The "this wasn't me" link sent with the post-reset notices. Using it
    freezes the passkey the recovery enrolled and opens a high-priority case."""

    case = models.OneToOneField(RecoveryCase, on_delete=models.PROTECT,
                                related_name="repudiation")
    passkey = models.ForeignKey("accounts.PasskeyCredential", on_delete=models.PROTECT,
                                related_name="+")
    digest = models.CharField(max_length=64, unique=True)  # the link is looked up by it
    follow_up = models.ForeignKey(RecoveryCase, null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="+")

    def __str__(self) -> str:
        return f"Repudiation link for case {self.case_id}"


class Alert(models.Model):
    """Unusual follow-on activity inside a recovery's watch period, or a
    passkey rollout wave that paused itself (no person: the wave is named in
    the detail)."""

    class Kind(models.TextChoices):
        SECOND_RECOVERY = "second_recovery", "Another recovery request"
        CHANNEL_CHANGE = "channel_change", "A recovery channel changed"
        PASSKEY_ENROLMENT = "passkey_enrolment", "Another passkey enrolled"
        NEW_NETWORK = "new_network", "Redemption from a new network"
        REPUDIATED = "repudiated", "The person said the recovery wasn't them"
        REPEATED_RECOVERY = "repeated_recovery", "Repeated recoveries within 30 days"
        ROLLOUT_PAUSED = "rollout_paused", "A rollout wave paused itself: recovery load"
        RESTORE_FAILED = "restore_failed", "Restoring access at the identity provider failed"
        VELOCITY_IDENTITY = "velocity_identity", "Too many recoveries for one person: refused"
        AGENT_VELOCITY = "agent_velocity", "An agent issued more credentials than the norm"
        PRIVILEGED_SPIKE = "privileged_spike", "A spike of recoveries for privileged people"
        LOST_DEVICE_USED = "lost_device_used", "A passkey reported lost is still signing in"
        ADMIN_ACCESS = "admin_access", "Admin access in the watch period"
        NEW_DEVICE = "new_device", "A new device in the watch period"
        ANONYMOUS_PROXY = "anonymous_proxy", "Sign-in through an anonymising proxy"
        NEW_COUNTRY = "new_country", "Sign-in from a new country"

    identity = models.ForeignKey(Identity, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="alerts",
                                 help_text="The person concerned; none for a rollout wave's alert.")
    case = models.ForeignKey(RecoveryCase, null=True, blank=True, on_delete=models.PROTECT,
                             related_name="alerts", help_text="The recovery being watched.")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    detail = models.CharField(max_length=500)
    created_at = models.DateTimeField(default=timezone.now)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                        on_delete=models.PROTECT, related_name="+")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledgement_note = models.CharField(
        max_length=500, blank=True, help_text="What the security admin found or did.")
    staff = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.PROTECT, related_name="+",
                              help_text="The staff member concerned (an agent's velocity).")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["acknowledged_at", "created_at"],
                                name="alert_open_idx")]

    def __str__(self) -> str:
        about = self.identity.display_name if self.identity_id else self.detail
        return f"{self.get_kind_display()}: {about}"


class PopulationRule(models.Model):
    """Stricter rules for a population (a kind of identity, or privileged
    people), on top of the tier's policy. Security admins edit them in the
    admin; a case freezes the rules that applied, with their explanations."""

    class Population(models.TextChoices):
        EMPLOYEE = "employee", "Employees"
        CONTRACTOR = "contractor", "Contractors"
        PARTNER = "partner", "B2B partners"
        SERVICE_ACCOUNT = "service_account", "Shared service accounts"
        PRIVILEGED = "privileged", "Privileged people (administrators, executives)"

    class Path(models.TextChoices):
        PASSKEY = "passkey", "Recovery credential, then a new passkey"
        ROTATION = "rotation", "Governance case ending in a credential rotation"

    population = models.CharField(max_length=20, choices=Population.choices, unique=True)
    minimum_tier = models.CharField(max_length=12, choices=Tier.choices, default=Tier.LOW)
    self_service_allowed = models.BooleanField(default=True)
    attestation_required = models.BooleanField(
        default=False, help_text="The sponsor, partner administrator or owner attests at every "
                                 "tier (a script with an attestation step is used).")
    script = models.ForeignKey(VerificationScript, null=True, blank=True,
                               on_delete=models.PROTECT, related_name="+",
                               help_text="Always follow this script instead of the tier's.")
    approvals_min = models.PositiveSmallIntegerField(default=0)
    approver_role = models.CharField(
        max_length=20, default="supervisor",
        choices=[("supervisor", "Supervisor"), ("security_admin", "Security admin")])
    credential_lifetime_max = models.DurationField(null=True, blank=True)
    path = models.CharField(max_length=10, choices=Path.choices, default=Path.PASSKEY)
    explanation = models.TextField(help_text="What the agent is told on the case page.")

    class Meta:
        ordering = ["population"]

    def __str__(self) -> str:
        return self.get_population_display()


class CredentialRotation(models.Model):
    """How a shared service account's recovery ends: its credential is
    rotated by its owner's team, never a passkey handed to a person."""

    case = models.OneToOneField(RecoveryCase, on_delete=models.PROTECT, related_name="rotation")
    performed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                     related_name="+")
    reference = models.CharField(max_length=100, help_text="Change ticket or vault reference.")
    note = models.CharField(max_length=500, blank=True)
    rotated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Rotation for case {self.case_id}"


class SelfServiceRequest(models.Model):
    """A self-service request waiting to be resolved by a worker.

    The request page only writes this row and answers, whatever the
    identifier names, so its timing says nothing about whether an account
    exists; ``workflow.resolve_self_service_request`` opens the case (or
    audits the refusal) and deletes the row. The identifier is kept only that
    long, and this model is not audited by django-auditlog (its entries
    would keep it)."""

    identifier = models.CharField(max_length=254, help_text="As typed; deleted once resolved.")
    client_address = models.GenericIPAddressField(null=True, blank=True)
    received_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["received_at"], name="self_service_received_idx")]

    def __str__(self) -> str:
        return f"Self-service request {self.pk}"


class InvolvementReview(models.Model):
    """A staff member's part in a recovery the person repudiated ("this
    wasn't me"), marked for a security admin's review in the repudiation's
    own transaction: one row per person and case, with every role they
    played. Closed once, with an outcome and a note, by a security admin who
    is not the person reviewed."""

    class Role(models.TextChoices):
        OPENED = "opened", "Opened the case"
        WORKED = "worked", "Worked the case"
        APPROVED = "approved", "Approved the reset"
        ISSUED = "issued", "Issued the recovery credential"

    class Outcome(models.TextChoices):
        CLEARED = "cleared", "Cleared: nothing wrong in their part"
        COACHING = "coaching", "Coaching: followed up with the person"
        REFERRED = "referred", "Referred for disciplinary action"

    case = models.ForeignKey(RecoveryCase, on_delete=models.PROTECT,
                             related_name="involvement_reviews",
                             help_text="The recovery the person repudiated.")
    staff = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                              related_name="involvement_reviews")
    roles = models.JSONField(default=list, help_text="What they did on the case (Role values).")
    created_at = models.DateTimeField(default=timezone.now,
                                      help_text="When the person said it wasn't them.")
    outcome = models.CharField(max_length=10, choices=Outcome.choices, blank=True)
    note = models.CharField(max_length=NOTE_MAX_LENGTH, blank=True,
                            help_text="What the security admin found.")
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                  on_delete=models.PROTECT, related_name="+")
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "pk"]
        indexes = [models.Index(fields=["closed_at", "created_at"], name="review_open_idx")]
        constraints = [
            models.UniqueConstraint(fields=["case", "staff"], name="one_review_per_person_case"),
            models.CheckConstraint(
                condition=Q(closed_at__isnull=True, outcome="", closed_by__isnull=True)
                | (Q(closed_at__isnull=False, closed_by__isnull=False) & ~Q(outcome="")
                   & ~Q(note="")),
                name="review_closed_with_outcome_and_note"),
            models.CheckConstraint(condition=Q(outcome__in=["", "cleared", "coaching",
                                                            "referred"]),
                                   name="review_outcome_valid"),
            models.CheckConstraint(condition=~Q(closed_by=models.F("staff")),
                                   name="review_not_by_the_reviewed"),
        ]

    def __str__(self) -> str:
        return f"Review of {self.staff} on case {self.case_id}"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @property
    def role_labels(self) -> list[str]:
        labels = dict(self.Role.choices)
        return [labels.get(role, role) for role in self.roles]


class RecoveryAllowance(models.Model):
    """A security admin's leave for one more recovery of a person the help
    desk refused for velocity: used by the next case opened for them, once,
    before it expires."""

    identity = models.ForeignKey(Identity, on_delete=models.PROTECT, related_name="+")
    alert = models.ForeignKey(Alert, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="allowances")
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="+")
    reason = models.CharField(max_length=500)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    case = models.OneToOneField(RecoveryCase, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="allowance")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=~Q(reason=""), name="allowance_reason_required"),
            models.CheckConstraint(condition=Q(expires_at__gt=models.F("created_at")),
                                   name="allowance_expires_after_creation"),
        ]

    def __str__(self) -> str:
        return f"One more recovery allowed for {self.identity}"


class IssueRelease(models.Model):
    """A supervisor's release of one case whose agent is past their team's
    daily limit of recovery credentials: that case's credential may be issued
    today. One per case."""

    case = models.OneToOneField(RecoveryCase, on_delete=models.PROTECT,
                                related_name="issue_release")
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                              related_name="+", help_text="The agent past their limit.")
    supervisor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="+")
    reason = models.CharField(max_length=1000)
    step_up_device = models.CharField(max_length=200)
    step_up_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(reason=""), name="issue_release_reason_required"),
        ]

    def __str__(self) -> str:
        return f"Issue released on case {self.case_id}"


class PressureSign(models.Model):
    """A social-engineering sign the agent's script ends with (urgency,
    claimed seniority ...): security admins keep the list in the admin."""

    code = models.SlugField(max_length=40, unique=True)
    label = models.CharField(max_length=200)
    help_text = models.CharField(max_length=500, blank=True)
    position = models.PositiveSmallIntegerField(default=100)
    active = models.BooleanField(default=True, help_text="Inactive signs are no longer asked.")

    class Meta:
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.label


class PressureAnswer(models.Model):
    """The agent's answer to the pressure checklist of a case: the signs
    ticked (as they were worded then) or none observed, and a note.
    Append-only: answered once per case."""

    case = models.OneToOneField(RecoveryCase, on_delete=models.PROTECT,
                                related_name="pressure_answer")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                              related_name="+")
    signs = models.JSONField(default=list, blank=True,
                             help_text="[{code, label}] of each sign ticked.")
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Pressure checklist of case {self.case_id}"

    @property
    def observed(self) -> bool:
        return bool(self.signs)

    @property
    def labels(self) -> list[str]:
        return [sign.get("label", sign.get("code", "")) for sign in self.signs]
