"""Read queries for the recovery pages: who may see which case, the queue,
a case's whole story, the approvals waiting for a supervisor."""

from __future__ import annotations

from dataclasses import dataclass

from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.paginator import Page, Paginator
from django.db.models import CharField, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Cast

from accounts.models import Identity, RecoveryChannel, User
from accounts.roles import Role, roles_of

from . import channels as channel_rules
from . import clock, workflow
from .models import (
    Alert,
    Approval,
    Evidence,
    Notice,
    RecoveryCase,
    RecoveryCaseUserObjectPermission,
    ScriptStep,
)

State = RecoveryCase.State
OVERSEERS = {Role.SUPERVISOR, Role.AUDITOR, Role.SECURITY_ADMIN}


def visible_cases(user: User, *, open_only: bool = False,
                  pk: int | None = None) -> QuerySet[RecoveryCase]:
    """Cases ``user`` may see: supervisors, auditors and security admins all
    of them (by role); agents the unclaimed open ones and those they were
    granted (django-guardian object permission by claiming). Others: none.
    ``open_only`` (open cases) and ``pk`` (one case) narrow the cases first,
    so an agent's grants are checked only for those, not listed in full."""
    held = roles_of(user)
    cases = RecoveryCase.objects.all()
    if open_only:
        cases = cases.filter(state__in=RecoveryCase.OPEN_STATES)
    if pk is not None:
        cases = cases.filter(pk=pk)
    if held & OVERSEERS:
        return cases
    if Role.AGENT in held:
        grants = RecoveryCaseUserObjectPermission.objects.filter(
            user=user, permission__codename="work_recoverycase")
        if open_only or pk is not None:
            # Open cases are few; an agent's grants pile up with every case
            # ever claimed. Each remaining case's grant is one probe of the
            # (user, permission, case) unique index.
            return cases.filter(Q(agent__isnull=True, state__in=RecoveryCase.OPEN_STATES)
                                | Exists(grants.filter(content_object=OuterRef("pk"))))
        # A union of two small, indexed id sets, not "unclaimed OR EXISTS(grant)":
        # the OR cannot use an index, so it scanned every case ever opened.
        unclaimed = RecoveryCase.objects.filter(
            agent__isnull=True, state__in=RecoveryCase.OPEN_STATES).order_by().values("pk")
        return cases.filter(pk__in=unclaimed.union(grants.values("content_object_id")))
    return cases.none()


@dataclass
class QueueFilters:
    status: str = "open"  # "open", "all" or a state
    tier: str = ""
    assigned: str = ""  # "", "mine" or "unassigned"
    kind: str = ""


def queue(user: User, filters: QueueFilters, page: int | str = 1, per_page: int = 25) -> Page:
    """One page of the reset queue, oldest first. Three queries whatever the
    number of cases: a count, the page's ids (sorted on the cases table alone)
    and those cases with their identity and agent joined."""
    is_open = filters.status == "open" or filters.status in RecoveryCase.OPEN_STATES
    cases = visible_cases(user, open_only=is_open)
    if filters.status not in ("open", "all"):
        cases = cases.filter(state=filters.status)
    if filters.tier:
        cases = cases.filter(tier=filters.tier)
    if filters.assigned == "mine":
        cases = cases.filter(agent=user)
    elif filters.assigned == "unassigned":
        cases = cases.filter(agent__isnull=True)
    if filters.kind:
        cases = cases.filter(identity__kind=filters.kind)
    ids = cases.order_by("-high_priority", "opened_at", "pk").values_list("pk", flat=True)
    found = Paginator(ids, per_page).get_page(page)
    rows = RecoveryCase.objects.filter(pk__in=list(found.object_list)).select_related(
        "identity", "agent").only(
        "pk", "tier", "state", "source", "opened_at", "deadline", "agent_id", "high_priority",
        "escalated_at",
        "identity__display_name", "identity__directory_id", "identity__kind", "identity__user",
        "agent__username", "agent__first_name", "agent__last_name",
    ).in_bulk()
    found.object_list = [rows[pk] for pk in found.object_list if pk in rows]
    return found


@dataclass
class StepStatus:
    step: ScriptStep
    status: str  # "passed", "failed", "pending"
    evidence: list[Evidence]
    waiting: bool = False  # a code or an attestation link is out
    ready: bool = False  # every earlier required step passed: it can be worked now


@dataclass
class ChannelStatus:
    channel: RecoveryChannel
    problem: str | None  # channels.unusable_because: revoked, stale, recently_changed

    @property
    def usable(self) -> bool:
        return self.problem not in (channel_rules.REVOKED, channel_rules.STALE)

    @property
    def recently_changed(self) -> bool:
        return self.problem == channel_rules.RECENTLY_CHANGED


def usable_channels(case: RecoveryCase, kinds=(RecoveryChannel.Kind.EMAIL,
                                               RecoveryChannel.Kind.PHONE)) -> list[int]:
    """Ids of the subject's channels that may carry a code, a link or a
    credential now (the choices the case page offers; the workflow refuses
    the others by the same rule)."""
    now = clock.now()
    return [c.pk for c in case.identity.channels.filter(kind__in=kinds, revoked_at__isnull=True)
            if channel_rules.unusable_because(c, case.rules, now) is None]


def case_story(case: RecoveryCase) -> dict:
    """Everything a case page shows: the subject, channels, the script with
    the evidence per step, approvals, credentials, notices and the timeline."""
    now = clock.now()
    rules = case.rules
    evidence = list(case.evidence.select_related("step", "actor", "attester", "channel"))
    live_codes = set(case.channel_codes.live(now).values_list("step_id", flat=True))
    pending = set(case.attestations.live(now).values_list("step_id", flat=True))
    steps, blocked = [], False
    for step in case.script.steps.all():
        mine = [e for e in evidence if e.step_id == step.pk]
        status = ("passed" if any(e.result == "passed" for e in mine)
                  else "failed" if mine else "pending")
        steps.append(StepStatus(step, status, mine, step.pk in live_codes | pending,
                                ready=not blocked))
        blocked = blocked or (step.required and status != "passed")
    channels = [ChannelStatus(c, channel_rules.unusable_because(c, rules, now))
                for c in case.identity.channels.all()]
    return {
        "case": case,
        "identity": case.identity,
        "rules": rules,
        "channels": channels,
        "steps": steps,
        "evidence": evidence,
        "approvals": list(case.approvals.select_related("approver")),
        "credentials": list(case.credentials.select_related("issued_by", "channel")),
        "notices": list(Notice.objects.filter(identity=case.identity,
                                              created_at__gte=case.opened_at)
                        .select_related("channel").order_by("created_at")),
        "timeline": timeline(case),
        "now": now,
    }


def timeline(case: RecoveryCase) -> QuerySet[LogEntry]:
    """Every audit entry about the case (decisions, refusals, model changes)."""
    return LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(RecoveryCase), object_pk=str(case.pk),
    ).select_related("actor").order_by("timestamp", "pk")


def pending_approvals(user: User) -> QuerySet[RecoveryCase]:
    """Cases waiting for a supervisor's decision that ``user`` may give:
    not their own recovery, not a case they hold or opened, not decided yet."""
    approver_roles = [r for r in (Role.SUPERVISOR, Role.SECURITY_ADMIN) if r in roles_of(user)]
    if not approver_roles:
        return RecoveryCase.objects.none()
    decided = Approval.objects.filter(case=OuterRef("pk"), approver=user)
    worked = Evidence.objects.filter(case=OuterRef("pk"), actor=user)
    # Claiming a case and giving it back is working on it (workflow.may_decide).
    claimed = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(RecoveryCase),
        object_pk=Cast(OuterRef("pk"), CharField()), actor=user,
        additional_data__event="case_claimed")
    # Governance cases (service accounts) wait for a security admin; the
    # owner of the account never decides on its rotation.
    by_role = Q(policy_snapshot__approver_role__in=approver_roles)
    if Role.SUPERVISOR in approver_roles:
        by_role |= ~Q(policy_snapshot__has_key="approver_role")
    return (RecoveryCase.objects.filter(by_role, state=State.AWAITING_APPROVAL)
            .exclude(Q(agent=user) | Q(opened_by=user) | Q(identity__user=user)
                     | Q(identity__kind=Identity.Kind.SERVICE_ACCOUNT, identity__owner__user=user))
            .exclude(Exists(decided)).exclude(Exists(worked)).exclude(Exists(claimed))
            .select_related("identity", "agent").order_by("opened_at"))


# What a page may offer, and the rule the decision behind it enforces.
OFFERS = {
    "claim": workflow.may_claim,
    "unclaim": workflow.may_unclaim,
    "work": workflow.may_work,
    "fail": workflow.may_fail,
    "escalate": workflow.may_escalate,
    "request_approval": workflow.may_request_approval,
    "decide": workflow.may_decide,
    "issue": workflow.may_issue,
    "rotate": workflow.may_rotate,
    "cancel": workflow.may_cancel,
}


def actions_for(case: RecoveryCase, user: User) -> set[str]:
    """What the viewer may do now: exactly the decisions whose ``may_*``
    rule accepts them (the workflow raises the same rule's refusal)."""
    if not case.is_open or not roles_of(user):
        return set()
    return {name for name, may in OFFERS.items() if may(case, user) is None}


def escalated_cases() -> QuerySet[RecoveryCase]:
    """Open cases an agent escalated and that are still being verified: what
    supervisors look at first."""
    return (RecoveryCase.objects.filter(escalated_at__isnull=False, state=State.VERIFYING)
            .select_related("identity", "agent", "escalated_by").order_by("escalated_at"))


def case_version(case: RecoveryCase, evidence_count: int | None = None) -> str:
    """Changes whenever the case page would: its state, or new evidence (an
    attester's answer arrives as evidence). Polled by the case page."""
    if evidence_count is None:
        evidence_count = case.evidence.count()
    return f"{case.state}:{case.updated_at.isoformat()}:{evidence_count}"


def outbox(limit: int = 100) -> QuerySet[Notice]:
    return Notice.objects.select_related("channel", "identity").order_by("-created_at",
                                                                          "-pk")[:limit]


# Counts in the navigation: one query each, run only for a viewer who holds the role.
def approvals_waiting_count(user: User) -> int:
    """How many cases wait for ``user``'s decision: the approvals list's own count."""
    return pending_approvals(user).count()


def open_alert_count() -> int:
    """Alerts nobody has acknowledged yet."""
    return Alert.objects.filter(acknowledged_at__isnull=True).count()
