"""Read queries for the recovery pages: who may see which case, the queue,
a case's whole story, the approvals waiting for a supervisor."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from auditlog.models import LogEntry
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Cast
from django.utils.timesince import timesince, timeuntil

from accounts.identifiers import canonical, name_key, phone_key, phone_keys
from accounts.models import Identity, RecoveryChannel, User
from accounts.roles import Role, roles_of

from . import channels as channel_rules
from . import clock, workflow
from . import timeline as words
from .models import (
    Alert,
    Approval,
    Attestation,
    ChannelCode,
    Evidence,
    InvolvementReview,
    IssueRelease,
    Notice,
    PressureAnswer,
    RecoveryCase,
    RecoveryCaseUserObjectPermission,
    RecoveryPolicy,
    ScriptStep,
    Team,
    Tier,
)

State = RecoveryCase.State
OVERSEERS = {Role.SUPERVISOR, Role.AUDITOR, Role.SECURITY_ADMIN}


def visible_cases(user: User, *, open_only: bool = False, pk: int | None = None,
                  among: list[int] | None = None) -> QuerySet[RecoveryCase]:
    """Cases ``user`` may see: supervisors, auditors and security admins all
    of them (by role); agents, within their scope (``team_scope``: the cases
    routed to their teams, or to the console's own desk for an agent in no
    team), the unclaimed open ones and those they were granted
    (django-guardian object permission by claiming). Others: none.
    ``open_only`` (open cases), ``pk`` (one case) and ``among`` (these ids)
    narrow the cases first, so an agent's grants are checked only for those,
    not listed in full."""
    held = roles_of(user)
    cases = RecoveryCase.objects.all()
    if open_only:
        cases = cases.filter(state__in=RecoveryCase.OPEN_STATES)
    if pk is not None:
        cases = cases.filter(pk=pk)
    if among is not None:
        cases = cases.filter(pk__in=among)
    if held & OVERSEERS:
        return cases
    if Role.AGENT in held:
        grants = _grants(user)
        cases = cases.filter(team_scope(user))
        if open_only or pk is not None or among is not None:
            # Open cases are few; an agent's grants pile up with every case
            # ever claimed. Each remaining case's grant is one probe of the
            # (user, permission, case) unique index.
            return cases.filter(_unclaimed_or_granted(user))
        # A union of two small, indexed id sets, not "unclaimed OR EXISTS(grant)":
        # the OR cannot use an index, so it scanned every case ever opened.
        unclaimed = RecoveryCase.objects.filter(
            agent__isnull=True, state__in=RecoveryCase.OPEN_STATES).order_by().values("pk")
        return cases.filter(pk__in=unclaimed.union(grants.values("content_object_id")))
    return cases.none()


def _unclaimed_or_granted(user: User) -> Q:
    """Which cases within an agent's scope they see (``visible_cases``): the
    unclaimed open ones and those they were granted, each grant one probe of
    the (user, permission, case) unique index."""
    return (Q(agent__isnull=True, state__in=RecoveryCase.OPEN_STATES)
            | Exists(_grants(user).filter(content_object=OuterRef("pk"))))


def team_scope(user: User) -> Q:
    """The cases an agent's scope holds (``workflow.in_scope``, as one
    condition with its own subqueries: no query of its own): those routed to
    one of their help-desk teams; for an agent in no team, those routed to
    no team (the console's own desk)."""
    mine = Team.members.through.objects.filter(user_id=user.pk).values("team_id")
    return Q(team__in=mine) | Q(Q(team__isnull=True) & ~Q(Exists(mine)))


def _grants(user: User) -> QuerySet[RecoveryCaseUserObjectPermission]:
    return RecoveryCaseUserObjectPermission.objects.filter(
        user=user, permission__codename="work_recoverycase")


def listed_cases(user: User, *, open_only: bool = False) -> QuerySet[RecoveryCase]:
    """Cases the queue lists for ``user``: those they may see, and for an
    agent every other open case in their scope too, held by a colleague:
    listed so they see who holds it ("held by"), never opened
    (``mark_openable``)."""
    held = roles_of(user)
    if held & OVERSEERS or Role.AGENT not in held:
        return visible_cases(user, open_only=open_only)
    scope = team_scope(user)  # a colleague's case is listed only within the agent's scope
    open_cases = RecoveryCase.objects.filter(scope, state__in=RecoveryCase.OPEN_STATES)
    if open_only:
        return open_cases
    return RecoveryCase.objects.filter(scope, pk__in=open_cases.order_by().values("pk").union(
        _grants(user).values("content_object_id")))


def _agent_only(user: User) -> bool:
    """An agent who sees cases as an agent (no overseeing role)."""
    held = roles_of(user)
    return Role.AGENT in held and not held & OVERSEERS


def mark_openable(user: User, cases: list[RecoveryCase]) -> None:
    """Set on each listed case ``may_open``, whether ``user`` may see it
    (``visible_cases``), and ``may_select``, whether the queue's bulk actions
    may take it: an open case the agent holds, to give back (held and
    granted: ``may_unclaim``'s rule), or any a supervisor may reassign. For
    an agent, each case carries ``granted`` (read with it by ``queue``): no
    query of its own; each decision checks again."""
    if roles_of(user) & OVERSEERS:
        openable = {case.pk for case in cases}
    elif _agent_only(user):
        # Listed cases are within the agent's scope (listed_cases), where
        # visible_cases shows them the unclaimed open cases and those they
        # were granted.
        openable = {case.pk for case in cases
                    if (case.agent_id is None and case.is_open) or case.granted}
    else:
        openable = set()
    for case in cases:
        case.may_open = case.pk in openable
        # Listed cases are within the viewer's scope (listed_cases): the
        # rules asked of each row need not read the viewer's teams again.
        workflow.known_scope(case, user)
        case.may_select = case.is_open and (
            (case.may_open and case.agent_id == user.pk)
            or workflow.may_reassign(case, user) is None)


def colleagues(case: RecoveryCase | None = None) -> list[User]:
    """Active agents, by name: whom cases may be handed over or reassigned
    to; for one ``case``, only those who may see it (members of the team it
    is routed to, or agents in no team for a case of the console's own
    desk), without its holder, its subject and those who decided on it.
    (``workflow.may_hold`` has the last word.) One query."""
    people = User.objects.filter(groups__name=Role.AGENT, is_active=True)
    if case is not None:
        people = (people.filter(teams=case.team_id) if case.team_id is not None
                  else people.filter(teams__isnull=True))
        people = people.exclude(pk__in=[pk for pk in (case.agent_id, case.identity.user_id)
                                        if pk is not None]).exclude(
            pk__in=Approval.objects.filter(case=case).values("approver_id"))
    return list(people.order_by("first_name", "last_name", "username")
                .only("pk", "username", "first_name", "last_name"))


@dataclass
class QueueFilters:
    status: str = "open"  # "open", "all" or a state
    tier: str = ""
    assigned: str = ""  # "", "mine" or "unassigned"
    kind: str = ""
    search: str = ""  # a case number, a person's name, directory id, email or phone
    sort: str = ""  # a key of QUEUE_SORTS, "-" in front for descending; "": the default


def _rank(field: str, values: list[str]) -> Case:
    return Case(*[When(**{field: value}, then=Value(rank)) for rank, value in enumerate(values)],
                output_field=IntegerField())


# What the queue sorts by, on the cases table alone: tiers by Tier.rank (low
# to restricted), states in the order the workflow moves through them.
QUEUE_SORTS = {
    "opened": F("opened_at"),
    "deadline": F("deadline"),
    "tier": _rank("tier", sorted(Tier.values, key=Tier.rank)),
    "state": _rank("state", State.values),
}
QUEUE_DEFAULT_ORDER = ("-high_priority", "opened_at", "pk")  # repudiated first, then oldest
CASE_NUMBER = re.compile(r"#?\s*(\d{1,18})")
PHONE_NUMBER = re.compile(r"\+?[\d\s().\-/]+")
MIN_PHONE_DIGITS = 6


def _queue_order(sort: str) -> tuple:
    key = QUEUE_SORTS.get(sort.removeprefix("-"))
    if key is None:
        return QUEUE_DEFAULT_ORDER
    descending = sort.startswith("-")
    first = key.desc() if descending else key.asc()
    if sort.removeprefix("-") in ("opened", "deadline"):
        return first, "-pk" if descending else "pk"
    return first, "opened_at", "pk"  # within a tier or a state, oldest first


def _named(text: str) -> QuerySet:
    """Ids of the identities ``text`` names by what the queue shows of them:
    part of the display name, or the directory id (one indexed lookup each)."""
    key = canonical(text)
    return (Identity.objects.filter(Q(directory_key=key) | Q(name_key__contains=name_key(text)))
            .order_by().values("pk"))


def _reached(text: str) -> list[QuerySet]:
    """Ids of the identities ``text`` names as a way to reach them: the
    account's email, an unrevoked email or phone channel (one indexed lookup
    each; none when ``text`` is neither an address nor a number)."""
    key, digits = canonical(text), phone_key(text)
    live = RecoveryChannel.objects.filter(revoked_at__isnull=True).order_by()
    found = []
    if "@" in key:
        found.append(Identity.objects.filter(user__email_key=key).order_by().values("pk"))
        found.append(live.filter(kind=RecoveryChannel.Kind.EMAIL, address_key=key)
                     .values("identity_id"))
    if PHONE_NUMBER.fullmatch(text) and len(digits) >= MIN_PHONE_DIGITS:
        keys = phone_keys(text, settings.PHONE_REGION)
        found.append(live.filter(kind=RecoveryChannel.Kind.PHONE, phone_key__in=sorted(keys))
                     .values("identity_id"))
    return found


def _search(cases: QuerySet[RecoveryCase], text: str,
            visible: QuerySet[RecoveryCase] | None) -> QuerySet[RecoveryCase]:
    """The cases among ``cases`` that ``text`` names: by number ("#42" or
    "42"), or through their identity (``_named``, ``_reached``). Each key is
    compared in its stored canonical form (accounts.identifiers), computed
    here in Python, so SQLite and PostgreSQL match exactly the same cases.

    An email or a phone number finds only cases among ``visible`` (None: all
    of ``cases`` are): the queue lists agents their colleagues' cases with a
    name and a directory id, never how to reach the person, so neither may
    a search. Identity ids come as unions of indexed lookups, never one OR
    across tables (that would read every identity or every case)."""
    names, reached = _named(text), _reached(text)
    if not reached:
        match = Q(identity__in=names)
    elif visible is None:
        match = Q(identity__in=names.union(*reached))
    else:
        match = Q(identity__in=names) | Q(identity__in=reached[0].union(*reached[1:]),
                                          pk__in=visible.values("pk"))
    if number := CASE_NUMBER.fullmatch(text):
        # "number OR identity" in one condition would read every case: the
        # ids of each instead, as a union.
        return cases.filter(pk__in=RecoveryCase.objects.filter(match).order_by().values("pk")
                            .union(RecoveryCase.objects.filter(pk=int(number.group(1)))
                                   .order_by().values("pk")))
    return cases.filter(match)


def queue(user: User, filters: QueueFilters, page: int | str = 1, per_page: int = 25, *,
          count: int | None = None) -> Page:
    """One page of the reset queue (urgent first, then oldest, unless sorted
    otherwise), among the cases ``user`` may see. Two queries whatever the
    number of cases: a count, and the page's cases with their identity and
    agent joined, picked by their ids sorted and sliced on the cases table
    alone (a subquery); for an agent, each with whether they were granted it
    (``mark_openable``). ``count``: how many cases the filters find, when
    the caller counted them already (``queue_with_clock``)."""
    is_open = filters.status == "open" or filters.status in RecoveryCase.OPEN_STATES
    cases = listed_cases(user, open_only=is_open)
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
    if filters.search:
        # An agent's list holds colleagues' cases they may not open (listed_cases).
        visible = None if roles_of(user) & OVERSEERS else visible_cases(user, open_only=is_open)
        cases = _search(cases, filters.search, visible)
    order = _queue_order(filters.sort)
    paginator = Paginator(cases.order_by(*order).values_list("pk", flat=True), per_page)
    if count is not None:
        paginator.count = count
    found = paginator.get_page(page)
    rows = RecoveryCase.objects.filter(pk__in=found.object_list).select_related(
        "identity", "agent").only(
        "pk", "tier", "state", "source", "opened_at", "deadline", "agent_id", "high_priority",
        "escalated_at",
        "identity__display_name", "identity__directory_id", "identity__kind", "identity__user",
        "agent__username", "agent__first_name", "agent__last_name",
    ).order_by(*order)
    if _agent_only(user):
        rows = rows.annotate(granted=Exists(_grants(user).filter(content_object=OuterRef("pk"))))
    found.object_list = list(rows)
    mark_openable(user, found.object_list)
    return found


def queue_due_soon() -> timedelta:
    """How near its deadline an open case is "due soon" on the queue."""
    return timedelta(minutes=settings.RECOVERY_QUEUE_DUE_SOON_MINUTES)


def deadline_counts(user: User, now: datetime, soon: timedelta, *,
                    listed: bool = False) -> dict:
    """Among the open cases ``user`` may see: how many are past their
    deadline, and how many reach it within ``soon`` (``within``, in words);
    with ``listed``, also how many open cases the queue lists them
    (``listed_cases``: for an agent, their colleagues' too). One query."""
    if listed:
        cases = listed_cases(user, open_only=True)
        # An agent's list holds every open case in their scope; they see some.
        seen = _unclaimed_or_granted(user) if _agent_only(user) else Q()
    else:
        cases, seen = visible_cases(user, open_only=True), Q()
    counts = cases.aggregate(
        # The deadline first: a grant is probed only for the cases it counts.
        overdue=Count("pk", filter=Q(deadline__lte=now) & seen),
        due_soon=Count("pk", filter=Q(deadline__gt=now, deadline__lte=now + soon) & seen),
        **({"listed": Count("pk")} if listed else {}),
    )
    return {**counts, "within": timesince(now - soon, now)}


def queue_with_clock(user: User, filters: QueueFilters, page: int | str, per_page: int,
                     now: datetime, soon: timedelta) -> tuple[Page, dict]:
    """The queue's page (``queue``) and its deadline counts
    (``deadline_counts``). On the open queue as it first shows (no filter and
    no search, in any order) the counts' query also counts the page's cases:
    two queries for both instead of three."""
    first_view = filters == QueueFilters(sort=filters.sort)
    clock = deadline_counts(user, now, soon, listed=first_view)
    return queue(user, filters, page, per_page, count=clock.pop("listed", None)), clock


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
    # The steps come from the script below: not joined to each piece of evidence.
    evidence = list(case.evidence.select_related("actor", "attester", "channel"))
    steps, blocked = [], False
    script = case.script.steps.all()
    if case.is_open:  # a closed case's codes and links died with it (workflow._close)
        # Each step with whether a code or an attestation link is out for it.
        script = script.annotate(
            code_out=Exists(ChannelCode.objects.live(now).filter(case=case, step=OuterRef("pk"))),
            link_out=Exists(Attestation.objects.live(now).filter(case=case,
                                                                 step=OuterRef("pk"))))
    for step in script:
        mine = [e for e in evidence if e.step_id == step.pk]
        for item in mine:
            item.step = step
        status = ("passed" if any(e.result == "passed" for e in mine)
                  else "failed" if mine else "pending")
        waiting = case.is_open and (step.code_out or step.link_out)
        steps.append(StepStatus(step, status, mine, waiting, ready=not blocked))
        blocked = blocked or (step.required and status != "passed")
    channels = [ChannelStatus(c, channel_rules.unusable_because(c, rules, now))
                for c in case.identity.channels.all()]
    approvals = list(case.approvals.select_related("approver"))
    return {
        "case": case,
        "identity": case.identity,
        "rules": rules,
        "channels": channels,
        "steps": steps,
        "evidence": evidence,
        "approvals": approvals,
        "notes": list(case.notes.select_related("author")),
        "credentials": list(case.credentials.select_related("issued_by", "channel")),
        "notices": list(Notice.objects.filter(identity=case.identity,
                                              created_at__gte=case.opened_at)
                        .select_related("channel").order_by("created_at")),
        "pressure_answer": (PressureAnswer.objects.select_related("actor")
                            .filter(case=case).first()),
        "issue_release": (IssueRelease.objects.select_related("supervisor", "agent")
                          .filter(case=case).first()),
        "timeline": timeline(case, steps=[s.step for s in steps], evidence=evidence,
                             approvals=approvals, channels=[c.channel for c in channels]),
        "now": now,
    }


def load_relations(identity: Identity) -> None:
    """Read the identity's manager, sponsor and owner (whoever it has) in
    one query, so that naming them reads nothing more."""
    names = ("manager", "sponsor", "owner")
    wanted = {getattr(identity, f"{name}_id") for name in names} - {None}
    found = Identity.objects.in_bulk(wanted) if wanted else {}
    for name in names:
        if getattr(identity, f"{name}_id") in found:
            setattr(identity, name, found[getattr(identity, f"{name}_id")])


def approval_brief(story: dict) -> dict:
    """What a supervisor reads first on the decision page, from the case's
    story (no query): when approval was asked, how many required steps
    passed, and every channel the evidence came through."""
    used = {e.channel.pk: e.channel for e in story["evidence"] if e.channel is not None}
    return {
        "requested_at": next((line.at for line in reversed(story["timeline"])
                              if line.event == "approval_requested"), None),
        "required_passed": sum(1 for entry in story["steps"]
                               if entry.step.required and entry.status == "passed"),
        "required": sum(1 for entry in story["steps"] if entry.step.required),
        "channels_used": list(used.values()),
        "deadline": deadline(story["case"], story["now"]),
    }


def timeline_entries(case: RecoveryCase) -> QuerySet[LogEntry]:
    """Every audit entry about the case (decisions, refusals, model changes)."""
    return LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(RecoveryCase), object_pk=str(case.pk),
    ).select_related("actor").order_by("timestamp", "pk")


def timeline(case: RecoveryCase, **known) -> list[words.Line]:
    """The case's audit entries in words, with who and when
    (``recovery_console.timeline``). ``known``: the steps, evidence,
    approvals and channels the page already holds, so they are not read
    again; whatever else the entries name is one query per kind."""
    entries = list(timeline_entries(case))
    return words.lines(entries, words.load_facts(case, entries, **known))


def pending_approvals(user: User) -> QuerySet[RecoveryCase]:
    """Cases waiting for a supervisor's decision that ``user`` may give:
    not their own recovery, not a case they hold or opened, not decided yet."""
    decided, worked, claimed = _decided_by(user), _evidence_by(user), _claimed_by(user)
    # Their own identity, and the service accounts they own (whose rotation
    # they never decide on): a few rows, each read by index, rather than a
    # join of every waiting case with its identity and owner.
    own = Identity.objects.filter(user=user).values("pk")
    owned = Identity.objects.filter(kind=Identity.Kind.SERVICE_ACCOUNT, owner__in=own).values("pk")
    return (_waiting_for_approval_by(user)
            .exclude(Q(agent=user) | Q(opened_by=user) | Q(identity__in=own)
                     | Q(identity__in=owned))
            .exclude(Exists(decided)).exclude(Exists(worked)).exclude(Exists(claimed))
            .select_related("identity", "agent").order_by("opened_at"))


def _waiting_for_approval_by(user: User) -> QuerySet[RecoveryCase]:
    """Cases awaiting the kind of approval ``user`` gives: a supervisor's, or
    a security admin's for governance cases (service accounts)."""
    approver_roles = [r for r in (Role.SUPERVISOR, Role.SECURITY_ADMIN) if r in roles_of(user)]
    if not approver_roles:
        return RecoveryCase.objects.none()
    by_role = Q(policy_snapshot__approver_role__in=approver_roles)
    if Role.SUPERVISOR in approver_roles:
        by_role |= ~Q(policy_snapshot__has_key="approver_role")
    return RecoveryCase.objects.filter(by_role, state=State.AWAITING_APPROVAL)


# A case whose deadline is nearer than this is "due soon" on the approvals list.
DUE_SOON = timedelta(hours=12)


@dataclass(frozen=True)
class Deadline:
    """A case's deadline as a page says it: the moment, "overdue" or "soon"
    (or ""), and the time left or past it ("4 hours, 10 minutes")."""

    at: datetime
    due: str
    span: str


@dataclass
class Waiting:
    """A case awaiting approval as one approver's list shows it."""

    case: RecoveryCase
    requested_at: datetime  # when its agent asked for approval
    why_not: str  # what the decision would refuse this viewer ("" when they may decide)
    deadline: Deadline

    @property
    def decidable(self) -> bool:
        return not self.why_not


def awaiting_approval(user: User) -> QuerySet[RecoveryCase]:
    """Every case waiting for the kind of approval ``user`` gives, the
    nearest deadline first: also those they may not decide, so their list
    can say why (``waiting``). Annotated with what ``workflow.may_decide``
    asks about the viewer, read here for all the cases at once."""
    return (_waiting_for_approval_by(user)
            .annotate(viewer_decided=Exists(_decided_by(user)),
                      viewer_recorded=Exists(_evidence_by(user)),
                      viewer_claimed=Exists(_claimed_by(user)))
            .select_related("identity__owner", "agent").order_by("deadline", "pk"))


def waiting(user: User, cases: Iterable[RecoveryCase]) -> list[Waiting]:
    """``cases`` (from ``awaiting_approval``) as ``user``'s list shows them:
    since when each waits, how near its deadline is, and, for a case they may
    not decide, the refusal the decision would give them: the same rule
    (``workflow.may_decide``), asked without another query per case."""
    cases = list(cases)
    now = clock.now()
    requested = dict(
        LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(RecoveryCase),
                                object_pk__in=[str(c.pk) for c in cases],
                                additional_data__event="approval_requested")
        .order_by().values("object_pk").annotate(at=Max("timestamp"))
        .values_list("object_pk", "at")) if cases else {}
    rows = []
    for case in cases:
        workflow.known_involvement(case, user, decided=case.viewer_decided,
                                   worked=case.viewer_recorded or case.viewer_claimed)
        refusal = workflow.may_decide(case, user)
        rows.append(Waiting(case, requested.get(str(case.pk), case.updated_at),
                            refusal.message if refusal else "", deadline(case, now)))
    return rows


def deadline(case: RecoveryCase, now: datetime, soon: timedelta = DUE_SOON) -> Deadline:
    """How near its deadline ``case`` is, in words; "soon" within ``soon``
    (the approvals list's DUE_SOON, the queue's ``queue_due_soon``)."""
    left = case.deadline - now
    if left <= timedelta(0):
        return Deadline(case.deadline, "overdue", timesince(case.deadline, now))
    return Deadline(case.deadline, "soon" if left <= soon else "",
                    timeuntil(case.deadline, now))


def _decided_by(user: User) -> QuerySet[Approval]:
    return Approval.objects.filter(case=OuterRef("pk"), approver=user)


def _evidence_by(user: User) -> QuerySet[Evidence]:
    return Evidence.objects.filter(case=OuterRef("pk"), actor=user)


def _claimed_by(user: User) -> QuerySet[LogEntry]:
    # Holding a case (claimed, or handed over or reassigned to one) and giving
    # it back is working on it (workflow.may_decide).
    return LogEntry.objects.filter(
        workflow.worked_entries(user),
        content_type=ContentType.objects.get_for_model(RecoveryCase),
        object_pk=Cast(OuterRef("pk"), CharField()))


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
    "note": workflow.may_add_note,
    "hand_over": workflow.may_hand_over,
    "reassign": workflow.may_reassign,
    "review_lost_device": workflow.may_review_lost_device,
    "pressure": workflow.may_answer_pressure,
    "release_issue": workflow.may_release_issue,
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


def lost_device_cases() -> QuerySet[RecoveryCase]:
    """Open cases whose "lost" passkey signed in and that wait for a
    supervisor's review before anything is issued (workflow.lost_device)."""
    return (RecoveryCase.objects.filter(state__in=RecoveryCase.OPEN_STATES,
                                        lost_device_used_at__isnull=False,
                                        lost_device_reviewed_at__isnull=True)
            .select_related("identity", "agent").order_by("lost_device_used_at"))


def case_version(case: RecoveryCase, evidence_count: int | None = None) -> str:
    """Changes whenever the case page would: its state, or new evidence (an
    attester's answer arrives as evidence). Polled by the case page."""
    if evidence_count is None:
        evidence_count = case.evidence.count()
    return f"{case.state}:{case.updated_at.isoformat()}:{evidence_count}"


def outbox(limit: int = 100) -> QuerySet[Notice]:
    return Notice.objects.select_related("channel", "identity").order_by("-created_at",
                                                                          "-pk")[:limit]


# --- security admins: alerts and stale channels ------------------------------

@dataclass
class AlertFilters:
    kind: str = ""  # "" (any) or an Alert.Kind
    state: str = "open"  # "open", "acknowledged" or "all"


def alert_page(filters: AlertFilters, page: int | str = 1, per_page: int = 50) -> Page:
    """One page of watch alerts, newest first: a count and the page's rows
    with their person and acknowledger joined, whatever the number of alerts."""
    alerts = Alert.objects.select_related("identity", "acknowledged_by", "staff") \
        .prefetch_related("allowances__granted_by")
    if filters.kind:
        alerts = alerts.filter(kind=filters.kind)
    if filters.state == "open":
        alerts = alerts.filter(acknowledged_at__isnull=True)
    elif filters.state == "acknowledged":
        alerts = alerts.filter(acknowledged_at__isnull=False)
    return Paginator(alerts.order_by("-created_at", "-pk"), per_page).get_page(page)


def stale_channel_page(page: int | str = 1, per_page: int = 100,
                       now: datetime | None = None) -> Page:
    """One page of live channels stale under the strictest policy as of
    ``now`` (a channel confirmed since the daily flagging is not listed),
    never-confirmed first, each with ``staleness``: the rule that makes it
    stale, in words. Three queries whatever the number of channels."""
    now = now or clock.now()
    policies = list(RecoveryPolicy.objects.only("tier", "channel_max_age"))
    if not policies:
        return Paginator(RecoveryChannel.objects.none(), per_page).get_page(1)
    strictest = min(p.channel_max_age for p in policies)
    found = Paginator(channel_rules.possibly_stale(strictest, now).select_related("identity")
                      .order_by(F("last_confirmed_at").asc(nulls_first=True), "pk"),
                      per_page).get_page(page)
    found.object_list = list(found.object_list)
    for channel in found.object_list:
        channel.staleness = channel_rules.why_stale(channel, policies, now)
    return found


@dataclass
class Revocation:
    entry: LogEntry
    channel: RecoveryChannel | None

    @property
    def reason(self) -> str:
        return self.entry.additional_data.get("reason", "")


def recent_revocations(days: int = 30, limit: int = 20) -> list[Revocation]:
    """The latest channel revocations of the last ``days``, with who revoked
    each channel and why (the reason kept in its audit entry). Two queries."""
    entries = list(LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(RecoveryChannel),
        timestamp__gte=clock.now() - timedelta(days=days),
        additional_data__event="channel_revoked",
    ).select_related("actor").order_by("-timestamp", "-pk")[:limit])
    channels = RecoveryChannel.objects.select_related("identity").in_bulk(
        {e.object_id for e in entries if e.object_id is not None})
    return [Revocation(e, channels.get(e.object_id)) for e in entries]
# Counts in the navigation: one query each, run only for a viewer who holds the role.
def approvals_waiting_count(user: User) -> int:
    """How many cases wait for ``user``'s decision: the approvals list's own
    count (``pending_approvals``), with its SQL compiled once per process for
    each approver (``_WAITING_COUNTS``)."""
    key = (user.pk, roles_of(user), ContentType.objects.get_for_model(RecoveryCase).pk)
    query = _WAITING_COUNTS.get(key)
    if query is None:
        if len(_WAITING_COUNTS) >= WAITING_COUNTS_KEPT:
            _WAITING_COUNTS.clear()
        sql, params = pending_approvals(user).order_by().values("pk").query.sql_with_params()
        query = _WAITING_COUNTS[key] = (f"SELECT COUNT(*) FROM ({sql}) waiting", params)  # noqa: S608  # nosec B608 - the ORM's own SQL
    with connection.cursor() as cursor:
        cursor.execute(*query)
        return cursor.fetchone()[0]


# The navigation shows the count on every page an approver opens, and
# building and compiling its queryset cost several times what the database
# takes to count. Its SQL depends only on the approver, their roles and the
# cases' content type (no clock, no other input), so it is kept per approver.
_WAITING_COUNTS: dict[tuple, tuple[str, tuple]] = {}
WAITING_COUNTS_KEPT = 1000


def open_alert_count() -> int:
    """Alerts nobody has acknowledged yet."""
    return Alert.objects.filter(acknowledged_at__isnull=True).count()


def security_admin_counts() -> dict[str, int]:
    """What waits for security admins, in one query (the navigation's budget):
    ``alerts`` nobody acknowledged, ``reviews`` of staff involvement nobody
    closed."""
    def counted(queryset, name: str):
        return (queryset.order_by().annotate(which=Value(name)).values("which")
                .annotate(n=Count("pk")).values_list("which", "n"))

    found = dict(counted(Alert.objects.filter(acknowledged_at__isnull=True), "alerts").union(
        counted(InvolvementReview.objects.filter(closed_at__isnull=True), "reviews"), all=True))
    return {"alerts": found.get("alerts", 0), "reviews": found.get("reviews", 0)}


# --- security admins and auditors: reviews after a repudiation ---------------

REVIEW_STATES = ("open", "closed", "all")


def review_page(state: str = "open", page: int | str = 1, per_page: int = 50) -> Page:
    """One page of involvement reviews (a staff member's part in a repudiated
    recovery), newest first, with the person, the case's person and who closed
    it joined: a count and the page's rows, whatever the number of reviews."""
    reviews = InvolvementReview.objects.select_related("staff", "case__identity", "closed_by")
    if state == "open":
        reviews = reviews.filter(closed_at__isnull=True)
    elif state == "closed":
        reviews = reviews.filter(closed_at__isnull=False)
    return Paginator(reviews.order_by("-created_at", "pk"), per_page).get_page(page)


def review_for(pk: int) -> InvolvementReview:
    """One review with what its page shows; DoesNotExist when there is none."""
    return InvolvementReview.objects.select_related(
        "staff", "case__identity", "case__agent", "closed_by").get(pk=pk)


def other_reviews_of(review: InvolvementReview, limit: int = 20) -> list[InvolvementReview]:
    """The same person's other reviews, newest first: a pattern is worth seeing."""
    return list(InvolvementReview.objects.filter(staff_id=review.staff_id)
                .exclude(pk=review.pk).select_related("case__identity", "closed_by")
                .order_by("-created_at")[:limit])
