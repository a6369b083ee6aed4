"""The passkey rollout's decisions: one function per decision, the actor
explicit, in one transaction, audited; a refusal is a ``WorkflowError``
(audited after the rollback by ``_decision``) with a reason the timeline
says in words.

- ``save_cohort``, ``save_plan``: a security admin creates or edits a
  cohort (a rule over identities, previewed with ``preview_cohort``) or a
  plan (thresholds and periods);
- ``add_wave``, ``reorder_waves``, ``choose_pilot_members``: the plan's
  waves and the named sample of a wave's pilot;
- ``move_wave``: pilot -> invite -> report-only -> enforce -> done, one
  stage at a time; ``may_move_wave`` is the one check the wave page offers
  moves by and the decision accepts them by;
- ``gate``: the readiness gate a wave passes before it enforces, with the
  exact people who block it;
- ``add_exception``, ``end_exception``, ``expire_exceptions``: a named
  person excused from a stage, until an expiry the beat enforces (the owner
  told).

Who is ready is ``readiness``' one definition; this module only decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from accounts.identifiers import canonical
from accounts.models import Identity, User
from accounts.roles import Role, roles_of
from audit.events import record

from .. import clock, notices
from ..refusal import WorkflowError
from ..workflow.base import _decision
from ..workflow.rules import _require_role
from . import readiness
from .models import Cohort, RolloutPlan, Wave, WaveException

Stage = Wave.Stage
NEXT_STAGE = {Stage.PILOT: Stage.INVITE, Stage.INVITE: Stage.REPORT_ONLY,
              Stage.REPORT_ONLY: Stage.ENFORCE, Stage.ENFORCE: Stage.DONE}
COHORT_FIELDS = ("name", "description", "directory_group", "kind", "department", "base_tier",
                 "privileged")
PLAN_FIELDS = ("name", "description", "passkey_share_required", "channel_share_required",
               "report_only_period", "invite_period", "reminder_interval", "snooze_limit",
               "snooze_period", "daily_case_limit")
PILOT_AT_MOST = 200  # a pilot is a named sample, chosen by hand
BLOCKERS_PER_PAGE = 50  # the people a gate lists at once (the count is always whole)
EXCEPTION_AT_MOST = timedelta(days=90)  # an exception is renewed, never open-ended
REASON_MAX_LENGTH = 500


# --- cohorts and plans -------------------------------------------------------------

@dataclass(frozen=True)
class Preview:
    """What a cohort's rule would take in, before it is saved."""

    members: int
    sample: list[Identity]


def preview_cohort(cohort: Cohort, shown: int = 5) -> Preview:
    """The member count and a few names of ``cohort`` (saved or not): reads
    only, in two queries."""
    cohort.directory_group_key = _group_key(cohort.directory_group)
    found = readiness.members(cohort)
    return Preview(members=found.count(),
                   sample=list(found.order_by("display_name", "pk")[:shown]))


def _group_key(name: str) -> str:
    return canonical(name.strip())


@_decision("rollout_cohort_save", actor="admin")
def save_cohort(admin: User, values: Mapping, cohort: Cohort | None = None, *,
                request: HttpRequest | None = None) -> Cohort:
    """A security admin creates a cohort (``cohort`` None) or changes one,
    from a form's cleaned ``values``; audited with what changed."""
    _require_role(admin, Role.SECURITY_ADMIN)
    now = clock.now()
    if cohort is None:
        cohort = Cohort(created_by=admin, created_at=now)
        before = {}
    else:
        cohort = Cohort.objects.select_for_update().get(pk=cohort.pk)
        before = {name: getattr(cohort, name) for name in COHORT_FIELDS}
    for name in COHORT_FIELDS:
        if name in values:
            setattr(cohort, name, values[name])
    cohort.updated_at = now
    cohort.save()
    changed = {name: [before.get(name), getattr(cohort, name)] for name in COHORT_FIELDS
               if before.get(name) != getattr(cohort, name)} if before else {}
    record("rollout_cohort_changed" if before else "rollout_cohort_created", target=cohort,
           actor=admin, request=request, name=cohort.name,
           changed={name: [str(old), str(new)] for name, (old, new) in changed.items()})
    return cohort


@_decision("rollout_plan_save", actor="admin")
def save_plan(admin: User, values: Mapping, plan: RolloutPlan | None = None, *,
              request: HttpRequest | None = None) -> RolloutPlan:
    """A security admin creates a plan (``plan`` None) or changes its
    thresholds and periods; audited with what changed. A change applies to
    every wave of the plan from the next decision on."""
    _require_role(admin, Role.SECURITY_ADMIN)
    if plan is None:
        plan, before = RolloutPlan(created_by=admin, created_at=clock.now()), {}
    else:
        plan = RolloutPlan.objects.select_for_update().get(pk=plan.pk)
        before = {name: getattr(plan, name) for name in PLAN_FIELDS}
    for name in PLAN_FIELDS:
        if name in values:
            setattr(plan, name, values[name])
    plan.save()
    changed = {name: [str(before[name]), str(getattr(plan, name))] for name in PLAN_FIELDS
               if before and before[name] != getattr(plan, name)}
    record("rollout_plan_changed" if before else "rollout_plan_created", target=plan,
           actor=admin, request=request, name=plan.name, changed=changed)
    return plan


# --- waves -------------------------------------------------------------------------

@_decision("rollout_wave_add", actor="admin")
def add_wave(plan: RolloutPlan, cohort: Cohort, admin: User, *,
             request: HttpRequest | None = None) -> Wave:
    """A security admin adds ``cohort`` as the plan's last wave, in pilot.
    A cohort is one wave of a plan at most."""
    _require_role(admin, Role.SECURITY_ADMIN)
    plan = RolloutPlan.objects.select_for_update().get(pk=plan.pk)
    if plan.waves.filter(cohort=cohort).exists():
        raise WorkflowError(f"{cohort.name} is already a wave of {plan.name}.",
                            reason="cohort_in_plan", target=plan)
    last = plan.waves.order_by("-position").values_list("position", flat=True).first() or 0
    now = clock.now()
    wave = Wave.objects.create(plan=plan, cohort=cohort, position=last + 1, stage=Stage.PILOT,
                               stage_since=now, created_at=now)
    record("rollout_wave_added", target=wave, actor=admin, request=request, plan=plan.pk,
           cohort=cohort.pk, cohort_name=cohort.name, position=wave.position)
    return wave


@_decision("rollout_wave_reorder", actor="admin")
def reorder_waves(plan: RolloutPlan, admin: User, order: list[int], *,
                  request: HttpRequest | None = None) -> list[Wave]:
    """A security admin puts the plan's waves in ``order`` (every wave's id,
    once, first wave first)."""
    _require_role(admin, Role.SECURITY_ADMIN)
    plan = RolloutPlan.objects.select_for_update().get(pk=plan.pk)
    waves = {wave.pk: wave for wave in plan.waves.select_for_update()}
    if sorted(order) != sorted(waves):
        raise WorkflowError("Give every wave of the plan once, in the order you want.",
                            reason="bad_order", status=WorkflowError.BAD_REQUEST, target=plan)
    ordered = [waves[pk] for pk in order]
    if [wave.position for wave in ordered] == sorted(w.position for w in ordered):
        return ordered
    # Two steps: positions are unique within the plan at every statement.
    offset = max(wave.position for wave in ordered) + len(ordered)
    for index, wave in enumerate(ordered, start=1):
        wave.position = offset + index
        wave.save(update_fields=["position"])
    for index, wave in enumerate(ordered, start=1):
        wave.position = index
        wave.save(update_fields=["position"])
    record("rollout_waves_reordered", target=plan, actor=admin, request=request,
           order=[wave.pk for wave in ordered])
    return ordered


@_decision("rollout_pilot_choose", actor="admin")
def choose_pilot_members(wave: Wave, admin: User, identities: Iterable[Identity], *,
                         request: HttpRequest | None = None) -> Wave:
    """A security admin names the pilot's sample: members of the wave's
    cohort, at most ``PILOT_AT_MOST``, while the wave is in pilot."""
    _require_role(admin, Role.SECURITY_ADMIN)
    wave = _lock(wave)
    chosen = {identity.pk for identity in identities}
    if wave.stage != Stage.PILOT:
        raise WorkflowError("The pilot's sample is chosen while the wave is in pilot.",
                            reason="not_pilot", target=wave)
    if len(chosen) > PILOT_AT_MOST:
        raise WorkflowError(f"A pilot names at most {PILOT_AT_MOST} people.", reason="too_many",
                            status=WorkflowError.BAD_REQUEST, target=wave)
    members = set(readiness.members(wave.cohort).filter(pk__in=chosen)
                  .values_list("pk", flat=True))
    if members != chosen:
        raise WorkflowError(f"Choose members of {wave.cohort.name} only.", reason="not_member",
                            status=WorkflowError.BAD_REQUEST, target=wave)
    before = set(wave.pilot_members.values_list("pk", flat=True))
    wave.pilot_members.set(chosen)
    record("rollout_pilot_chosen", target=wave, actor=admin, request=request,
           added=sorted(chosen - before), removed=sorted(before - chosen))
    return wave


def _lock(wave: Wave) -> Wave:
    return (Wave.objects.select_for_update(of=("self",)).select_related("plan", "cohort")
            .get(pk=wave.pk))


# --- the readiness gate ----------------------------------------------------------------

@dataclass(frozen=True)
class Part:
    """One condition of the gate: what is required, what the wave has."""

    name: str  # passkeys, channels, privileged
    label: str
    required: str
    actual: str
    passes: bool


@dataclass
class Gate:
    """The gate's verdict on a wave now, and exactly who blocks it."""

    passes: bool
    counts: readiness.Counts  # the members the gate counts (the excepted left out)
    parts: list[Part]
    blockers: list[Identity]  # this page of them, privileged first (annotated readiness)
    blocker_count: int
    blocker_page: int
    blocker_pages: int
    excepted: list[WaveException] = field(default_factory=list)
    excepted_count: int = 0

    @property
    def failing(self) -> list[Part]:
        return [part for part in self.parts if not part.passes]


def open_exceptions(wave: Wave, now: datetime, stage: str = Stage.ENFORCE
                    ) -> QuerySet[WaveException]:
    """The wave's exceptions from ``stage`` in force at ``now``: not ended
    and not past their expiry (the beat may not have ended them yet)."""
    return WaveException.objects.filter(wave=wave, stage=stage, ended_at__isnull=True,
                                        expires_at__gt=now)


def gated_members(wave: Wave, now: datetime) -> QuerySet[Identity]:
    """The members the gate counts: the cohort's, less anyone excused from
    enforcement right now."""
    excused = open_exceptions(wave, now).values("identity_id")
    return readiness.members(wave.cohort).exclude(pk__in=excused)


def gate(wave: Wave, now: datetime, *, page: int = 1,
         per_page: int = BLOCKERS_PER_PAGE) -> Gate:
    """The readiness gate: the share of (non-excepted) members with a
    passkey and the share with a usable recovery channel meet the plan's
    thresholds, and every privileged member is ready. When it fails, the
    blockers are the members not ready (only the privileged ones, when the
    shares pass); a member with an enforcement exception in force is left
    out and listed as excepted. A constant number of queries, whatever the
    wave's size."""
    plan = wave.plan
    gated = gated_members(wave, now)
    counts = readiness.counts(gated, now)
    passkeys, channels = counts.share(counts.with_passkey), counts.share(counts.with_channel)
    privileged_ok = counts.privileged_ready == counts.privileged
    parts = [
        Part("passkeys", "Members with a passkey", f"{plan.passkey_share_required}%",
             f"{passkeys:.1f}% ({counts.with_passkey} of {counts.members})",
             passkeys >= plan.passkey_share_required),
        Part("channels", "Members with a usable recovery channel",
             f"{plan.channel_share_required}%",
             f"{channels:.1f}% ({counts.with_channel} of {counts.members})",
             channels >= plan.channel_share_required),
        Part("privileged", "Privileged members ready", "all",
             f"{counts.privileged_ready} of {counts.privileged}", privileged_ok),
    ]
    shares_ok = parts[0].passes and parts[1].passes
    if not shares_ok:
        blocking, blocker_count = ~Q(has_passkey=True, has_channel=True), \
            counts.members - counts.ready
    elif not privileged_ok:
        blocking, blocker_count = Q(privileged=True) & ~Q(has_passkey=True, has_channel=True), \
            counts.privileged - counts.privileged_ready
    else:
        blocking, blocker_count = None, 0
    pages = max(1, -(-blocker_count // per_page))
    page = min(max(1, page), pages)
    blockers = []
    if blocking is not None:
        start = (page - 1) * per_page
        blockers = list(readiness.with_readiness(gated, now).filter(blocking)
                        .order_by("-privileged", "display_name", "pk")[start:start + per_page])
    excepted = list(open_exceptions(wave, now).select_related("identity", "owner")
                    .order_by("expires_at", "pk")[:per_page])
    excepted_count = len(excepted) if len(excepted) < per_page else \
        open_exceptions(wave, now).count()
    return Gate(passes=shares_ok and privileged_ok, counts=counts, parts=parts,
                blockers=blockers, blocker_count=blocker_count, blocker_page=page,
                blocker_pages=pages, excepted=excepted, excepted_count=excepted_count)


# --- moving a wave ---------------------------------------------------------------------

def may_move_wave(wave: Wave, actor: User | None, to_stage: str, now: datetime, *,
                  verdict: Gate | None = None) -> WorkflowError | None:
    """Why ``actor`` may not move ``wave`` to ``to_stage`` now, or None.
    The wave page offers a move exactly when this returns None, and
    ``move_wave`` raises what it returns on the locked wave. ``verdict``:
    the gate already worked out for the page (computed when needed and not
    given)."""
    if actor is None or Role.SECURITY_ADMIN not in roles_of(actor):
        return WorkflowError("Only a security admin may move a wave.", reason="role",
                             status=WorkflowError.FORBIDDEN, target=wave)
    if to_stage not in Stage.values:
        return WorkflowError("There is no such stage.", reason="unknown_stage",
                             status=WorkflowError.BAD_REQUEST, target=wave)
    if NEXT_STAGE.get(wave.stage) != to_stage:
        following = NEXT_STAGE.get(wave.stage)
        then = f"only to {Stage(following).label.lower()}" if following else "no further"
        return WorkflowError(f"A wave in {wave.get_stage_display().lower()} moves {then}, one "
                             "stage at a time.", reason="illegal_move", target=wave,
                             stage=wave.stage, to_stage=to_stage)
    if wave.paused_at is not None:
        return WorkflowError("The wave is paused: resume it before moving it on.",
                             reason="wave_paused", target=wave)
    if to_stage == Stage.ENFORCE:
        ready_at = wave.stage_since + wave.plan.report_only_period
        if now < ready_at:
            return WorkflowError(
                "The wave runs in report-only mode until "
                f"{ready_at:%Y-%m-%d %H:%M} UTC before it may enforce.",
                reason="report_only_running", target=wave, until=ready_at.isoformat())
        verdict = verdict or gate(wave, now, per_page=1)
        if not verdict.passes:
            failing = "; ".join(f"{p.label.lower()}: {p.actual}, {p.required} required"
                                for p in verdict.failing)
            return WorkflowError(
                f"The readiness gate fails ({failing}); {verdict.blocker_count} "
                f"{'person blocks' if verdict.blocker_count == 1 else 'people block'} it.",
                reason="gate_failing", target=wave, parts=[p.name for p in verdict.failing],
                blockers=verdict.blocker_count)
    return None


def allowed_moves(wave: Wave, actor: User | None, now: datetime,
                  verdict: Gate | None = None) -> list[tuple[str, str]]:
    """The moves the wave page offers ``actor`` now: (stage, label)."""
    following = NEXT_STAGE.get(wave.stage)
    if following is None or may_move_wave(wave, actor, following, now, verdict=verdict):
        return []
    return [(following, Stage(following).label)]


@_decision("rollout_wave_move", actor="admin")
def move_wave(wave: Wave, admin: User, to_stage: str, now: datetime | None = None, *,
              request: HttpRequest | None = None) -> Wave:
    """A security admin moves a wave one stage on (pilot -> invite ->
    report-only -> enforce -> done). Refused for a paused wave, a jump, an
    enforcement before the plan's report-only period has run, or while the
    readiness gate fails. Entering invite sets the enrolment deadline."""
    now = now or clock.now()
    wave = _lock(wave)
    refusal = may_move_wave(wave, admin, to_stage, now)
    if refusal is not None:
        raise refusal
    before = wave.stage
    wave.stage, wave.stage_since = to_stage, now
    fields = ["stage", "stage_since"]
    if to_stage == Stage.INVITE and wave.enrol_by is None:
        wave.enrol_by = now + wave.plan.invite_period
        fields.append("enrol_by")
    wave.save(update_fields=fields)
    record("rollout_wave_moved", target=wave, actor=admin, request=request,
           stage=before, to_stage=to_stage, plan=wave.plan_id)
    return wave


# --- exceptions ------------------------------------------------------------------------

@_decision("rollout_exception_add", actor="admin")
def add_exception(wave: Wave, admin: User, identity: Identity, stage: str, owner: User,
                  reason: str, expires_at: datetime, now: datetime | None = None, *,
                  request: HttpRequest | None = None) -> WaveException:
    """A security admin excuses a member of the wave from a stage (invite,
    or enforcement with report-only), with an owner on the staff who answers
    for it, a reason and an expiry at most ``EXCEPTION_AT_MOST`` ahead."""
    _require_role(admin, Role.SECURITY_ADMIN)
    now = now or clock.now()
    wave = _lock(wave)
    reason = (reason or "").strip()
    if not reason:
        raise WorkflowError("Say why the person is excused.", reason="reason_required",
                            status=WorkflowError.BAD_REQUEST, target=wave)
    if len(reason) > REASON_MAX_LENGTH:
        raise WorkflowError(f"Keep the reason under {REASON_MAX_LENGTH} characters.",
                            reason="reason_length", status=WorkflowError.BAD_REQUEST,
                            target=wave)
    if stage not in (Stage.INVITE, Stage.ENFORCE):
        raise WorkflowError("An exception is from invitations or from enforcement.",
                            reason="unknown_stage", status=WorkflowError.BAD_REQUEST,
                            target=wave)
    if expires_at <= now:
        raise WorkflowError("The expiry must be in the future.", reason="expiry_past",
                            status=WorkflowError.BAD_REQUEST, target=wave)
    if expires_at > now + EXCEPTION_AT_MOST:
        raise WorkflowError(f"An exception lasts at most {EXCEPTION_AT_MOST.days} days; "
                            "renew it if it is still needed then.", reason="expiry_too_far",
                            status=WorkflowError.BAD_REQUEST, target=wave)
    if not owner.is_active or not roles_of(owner):
        raise WorkflowError("The owner must be an active member of the staff.",
                            reason="owner_not_staff", status=WorkflowError.BAD_REQUEST,
                            target=wave)
    if not readiness.members(wave.cohort).filter(pk=identity.pk).exists():
        raise WorkflowError(f"{identity.display_name} is not a member of {wave.cohort.name}.",
                            reason="not_member", status=WorkflowError.BAD_REQUEST, target=wave)
    if WaveException.objects.filter(wave=wave, identity=identity, stage=stage,
                                    ended_at__isnull=True).exists():
        raise WorkflowError(f"{identity.display_name} already has an open exception from this "
                            "stage: end it first.", reason="exception_exists", target=wave)
    exception = WaveException.objects.create(
        wave=wave, identity=identity, stage=stage, owner=owner, reason=reason,
        expires_at=expires_at, created_by=admin, created_at=now)
    record("rollout_exception_added", target=exception, actor=admin, request=request,
           wave=wave.pk, identity=identity.pk, stage=stage, owner=owner.pk,
           expires_at=expires_at.isoformat(), reason=reason)
    return exception


@_decision("rollout_exception_end", actor="admin")
def end_exception(exception: WaveException, admin: User, now: datetime | None = None, *,
                  request: HttpRequest | None = None) -> WaveException:
    """A security admin ends an exception before its expiry: the person
    counts in the gate (and is enforced) again."""
    _require_role(admin, Role.SECURITY_ADMIN)
    now = now or clock.now()
    exception = WaveException.objects.select_for_update().get(pk=exception.pk)
    if exception.ended_at is not None:
        raise WorkflowError("This exception has already ended.", reason="exception_ended",
                            target=exception)
    exception.ended_at = now
    exception.save(update_fields=["ended_at"])
    record("rollout_exception_ended", target=exception, actor=admin, request=request,
           wave=exception.wave_id, identity=exception.identity_id, stage=exception.stage)
    _tell_owner(exception, "ended", f"{admin.get_full_name() or admin.username} ended it")
    return exception


def expire_exceptions(now: datetime | None = None, batch: int = 500) -> int:
    """The beat's sweep: end every exception past its expiry, audit each
    and tell its owner. Rows another sweep holds are skipped (it ends
    them); returns how many ended here."""
    now = now or clock.now()
    ended = 0
    while True:
        with transaction.atomic():
            due = list(WaveException.objects.select_for_update(skip_locked=True, of=("self",))
                       .select_related("identity", "owner", "wave__plan", "wave__cohort")
                       .filter(ended_at__isnull=True, expires_at__lte=now)
                       .order_by("expires_at", "pk")[:batch])
            for exception in due:
                exception.ended_at = now
                exception.save(update_fields=["ended_at"])
                record("rollout_exception_expired", target=exception, actor=None,
                       wave=exception.wave_id, identity=exception.identity_id,
                       stage=exception.stage)
                _tell_owner(exception, "expired", "its expiry passed")
        ended += len(due)
        if len(due) < batch:
            return ended


def _tell_owner(exception: WaveException, how: str, why: str) -> None:
    """The owner's notice, through the outbox: on their own identity's
    channels when they have one, and always to security monitoring (staff
    accounts carry no channel of their own)."""
    person, wave = exception.identity.display_name, exception.wave
    subject = f"Rollout exception {how}: {person}"
    body = (f"The exception you own for {person} from the "
            f"{exception.get_stage_display().lower()} of {wave} {how} ({why}). "
            f"{person} is now held to the wave's stage like every other member. "
            f"Reason it was given: {exception.reason}")
    decision = f"rollout-exception-{how}:{exception.pk}"
    owner_identity = Identity.objects.filter(user_id=exception.owner_id).first()
    if owner_identity is not None:
        notices.owe_to_identity(owner_identity, decision=decision,
                                event=f"rollout_exception_{how}", subject=subject, body=body)
    notices.owe_to_monitoring(decision=decision, event=f"rollout_exception_{how}",
                              identity=exception.identity,
                              subject=f"{subject} (owner {exception.owner})", body=body)
