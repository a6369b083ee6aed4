"""The passkey rollout at the portal's door, and a wave held back when the
help desk cannot keep pace.

Decisions (one function each, atomic, audited; refusals are WorkflowError):

- ``admit_without_passkey``: once a person proved their password and their
  authenticator code at the portal (``sign_in_without_passkey``), may they
  in without a passkey? Not while a wave they belong to enforces (unless an
  open exception excuses them): they are pointed to recovery. A wave in
  report-only lets them in and records a ``WouldRefuse`` (who, when, why).
  A paused wave enforces nothing new: while paused, an enforcing wave only
  records, like report-only. Signing in with a passkey never comes here.
- ``pause_wave``: the system pauses a wave whose members opened more
  recovery cases in the last 24 hours than its plan's daily limit, and
  alerts security admins (``pause_overloaded_waves``, on a beat schedule).
- ``resume_wave``: a security admin resumes it, with a note. The load is
  then counted from the resume on, so the cases they already weighed do
  not pause the wave again.

A paused wave sends no invitations and may not move on to enforcement:
``refuse_while_paused`` is the check those decisions make.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest

from accounts.auth import sign_in_person
from accounts.models import Identity, User
from accounts.roles import Role, roles_of
from audit.events import record

from .. import alerts, clock
from ..models import Alert, RecoveryCase
from ..refusal import WorkflowError
from ..workflow.base import _decision
from . import readiness
from .models import Wave, WaveException, WouldRefuse

Stage = Wave.Stage
# The stages in which a sign-in without a passkey is looked at.
# A done wave keeps its members to passkeys: "done" ends the moving, not the rule.
WATCHING = (Stage.REPORT_ONLY, Stage.ENFORCE, Stage.DONE)
# The stages whose help-desk load is watched.
ACTIVE = (Stage.INVITE, Stage.REPORT_ONLY, Stage.ENFORCE)
LOAD_WINDOW = timedelta(hours=24)
NOTE_MAX_LENGTH = 500

PASSKEY_REQUIRED = (
    "Your organisation now requires a passkey to sign in here, so your password and "
    "authenticator code are no longer enough. Sign in with your passkey. If you have "
    "none or lost it, ask the service desk to restore your access."
)


# --- who the rollout holds at the door -----------------------------------------

def open_exceptions(now: datetime) -> QuerySet[WaveException]:
    """Exceptions from enforcement (report-only included) in force at ``now``."""
    return WaveException.objects.filter(stage=Stage.ENFORCE, ended_at__isnull=True,
                                        expires_at__gt=now)


@dataclass(frozen=True)
class Standing:
    """Where a person stands with the waves that look at sign-ins."""

    identity_id: int | None = None
    refusing: list[Wave] = field(default_factory=list)  # enforcing, unpaused
    recording: list[Wave] = field(default_factory=list)  # report-only, or paused enforcing


def standing(user: User, now: datetime) -> Standing:
    """The waves in report-only or enforcement whose cohort takes ``user``'s
    identity in and which no open exception excuses them from.

    Two queries, whatever the number of waves: the watching waves (with a
    flag for the person's exception), then the person's identity with one
    EXISTS per wave over ``readiness.members`` (its rule, unchanged). One
    query when no wave is watching."""
    excepted = open_exceptions(now).filter(wave=OuterRef("pk"), identity__user_id=user.pk)
    waves = [wave for wave in Wave.objects.filter(stage__in=WATCHING)
             .select_related("cohort").annotate(excepted=Exists(excepted))
             .order_by("plan_id", "position")
             if not wave.excepted]
    if not waves:
        return Standing()
    flags = {f"in_{wave.pk}": Exists(readiness.members(wave.cohort).filter(pk=OuterRef("pk")))
             for wave in waves}
    row = Identity.objects.filter(user_id=user.pk).annotate(**flags).values("pk", *flags).first()
    if row is None:
        return Standing()
    theirs = [wave for wave in waves if row[f"in_{wave.pk}"]]
    return Standing(
        identity_id=row["pk"],
        refusing=[w for w in theirs if w.stage == Stage.DONE
                  or (w.stage == Stage.ENFORCE and w.paused_at is None)],
        recording=[w for w in theirs if w.stage == Stage.REPORT_ONLY
                   or (w.stage == Stage.ENFORCE and w.paused_at is not None)])


@_decision("sign_in")
def admit_without_passkey(user: User, *, request: HttpRequest | None = None) -> list[WouldRefuse]:
    """Decide whether ``user``, who just passed their password and
    authenticator code, may sign in without a passkey.

    Refused (``passkey_required``, 403, audited) while a wave they belong to
    enforces and no open exception excuses them. Otherwise let in; each wave
    in report-only (or enforcing but paused) they belong to records that it
    would have refused them. Nobody decides but the rules: no actor."""
    now = clock.now()
    found = standing(user, now)
    if found.refusing:
        wave = found.refusing[0]
        raise WorkflowError(PASSKEY_REQUIRED, reason="passkey_required",
                            status=WorkflowError.FORBIDDEN, target=user, username=user.username,
                            wave=wave.pk, plan=wave.plan_id)
    rows = WouldRefuse.objects.bulk_create(
        WouldRefuse(wave=wave, identity_id=found.identity_id, at=now,
                    why=WouldRefuse.Why.NO_PASSKEY)
        for wave in found.recording)
    if rows:
        record("would_refuse_recorded", target=user, actor=user, request=request,
               waves=[wave.pk for wave in found.recording], why=WouldRefuse.Why.NO_PASSKEY)
    return rows


def sign_in_without_passkey(request: HttpRequest, username: str, password: str,
                            otp_token: str) -> User:
    """The portal's sign-in for a person without a passkey: password + TOTP
    (``accounts.auth.sign_in_person``: throttled, audited, silent about who
    exists), then ``admit_without_passkey``, so the rollout is heard only by
    someone who proved both factors."""
    return sign_in_person(request, username, password, otp_token,
                          admit=lambda user: admit_without_passkey(user, request=request))


# --- help-desk load and the pause -------------------------------------------------

def recent_case_counts(waves: list[Wave], now: datetime) -> dict[int, int]:
    """Recovery cases opened in the last 24 hours (since the wave's last
    resume, if later) by each wave's members now: one aggregate for all."""
    if not waves:
        return {}
    start = now - LOAD_WINDOW
    counted = {}
    for wave in waves:
        since = max(start, wave.resumed_at) if wave.resumed_at else start
        members = readiness.members(wave.cohort).filter(pk=OuterRef("identity_id"))
        counted[f"w{wave.pk}"] = Count("pk", filter=Q(Exists(members), opened_at__gt=since))
    totals = RecoveryCase.objects.filter(opened_at__gt=start, opened_at__lte=now).aggregate(
        **counted)
    return {wave.pk: totals[f"w{wave.pk}"] for wave in waves}


def pause_overloaded_waves(now: datetime | None = None) -> list[Wave]:
    """Pause every active, unpaused wave whose members' recovery cases of the
    last 24 hours pass its plan's daily limit. Two queries to find them, all
    waves together; each pause then writes its own."""
    now = now or clock.now()
    waves = list(Wave.objects.filter(stage__in=ACTIVE, paused_at__isnull=True)
                 .select_related("plan", "cohort").order_by("pk"))
    paused = []
    for wave in waves_over_limit(waves, now):
        try:
            paused.append(pause_wave(wave, cases=wave.recent_cases, now=now))
        except WorkflowError:
            continue  # paused or moved on since it was read: nothing to do
    return paused


def waves_over_limit(waves: list[Wave], now: datetime) -> list[Wave]:
    counts = recent_case_counts(waves, now)
    over = []
    for wave in waves:
        wave.recent_cases = counts[wave.pk]
        if wave.recent_cases > wave.plan.daily_case_limit:
            over.append(wave)
    return over


@_decision("wave_pause")
def pause_wave(wave: Wave, *, cases: int, now: datetime | None = None) -> Wave:
    """The system pauses ``wave``: ``cases`` recovery cases opened by its
    members in the last 24 hours passed the plan's daily limit. Security
    admins are alerted and security monitoring told. Refused when the wave
    is already paused or no longer active (someone got there first)."""
    now = now or clock.now()
    wave = Wave.objects.select_related("plan", "cohort").get(pk=wave.pk)
    limit = wave.plan.daily_case_limit
    why = (f"{cases} recovery case{'s' if cases != 1 else ''} opened by the wave's members "
           f"in the last 24 hours, past the plan's daily limit of {limit}.")
    # Conditional: two passes at once cannot both pause (and alert).
    updated = Wave.objects.filter(pk=wave.pk, paused_at__isnull=True, stage__in=ACTIVE).update(
        paused_at=now, paused_reason=why)
    if not updated:
        raise WorkflowError("The wave is already paused, or no longer active.",
                            reason="wave_paused", target=wave)
    wave.paused_at, wave.paused_reason = now, why
    record("wave_paused", target=wave, actor=None, cases=cases, limit=limit, stage=wave.stage,
           reason=why)
    alerts.raise_alert(
        None, Alert.Kind.ROLLOUT_PAUSED, f"{wave} paused itself: {why} Resume it on the wave's "
        f"page once the desk keeps pace.", subject=f"Passkey rollout paused: {wave}")
    return wave


def may_resume(wave: Wave, user: User) -> bool:
    """A security admin may resume a paused wave (the page offers, and
    ``resume_wave`` accepts, through this)."""
    return wave.paused_at is not None and Role.SECURITY_ADMIN in roles_of(user)


@_decision("wave_resume", actor="admin")
def resume_wave(wave: Wave, admin: User, note: str, *,
                request: HttpRequest | None = None) -> Wave:
    """A security admin resumes a paused wave, saying why (kept in the
    audit). The help-desk load is counted afresh from now."""
    if Role.SECURITY_ADMIN not in roles_of(admin):
        raise WorkflowError("Only security admins resume a paused wave.",
                            reason="not_security_admin", status=WorkflowError.FORBIDDEN,
                            target=wave)
    note = note.strip()
    if not note:
        raise WorkflowError("Say why the wave may go on (what changed at the desk).",
                            reason="reason_required", status=WorkflowError.BAD_REQUEST,
                            target=wave)
    if len(note) > NOTE_MAX_LENGTH:
        raise WorkflowError(f"Keep the note under {NOTE_MAX_LENGTH} characters.",
                            reason="note_too_long", status=WorkflowError.BAD_REQUEST,
                            target=wave)
    current = Wave.objects.select_for_update().get(pk=wave.pk)
    now = clock.now()
    # Conditional, as well as locked: where rows cannot be locked (SQLite),
    # two admins resuming at once still resume (and audit) once.
    if current.paused_at is None or not Wave.objects.filter(
            pk=wave.pk, paused_at=current.paused_at).update(
            paused_at=None, paused_reason="", resumed_at=now):
        raise WorkflowError("The wave is not paused (someone may have resumed it just now).",
                            reason="wave_not_paused", target=wave)
    record("wave_resumed", target=wave, actor=admin, request=request, note=note,
           paused_at=current.paused_at.isoformat(), paused_reason=current.paused_reason)
    wave.paused_at, wave.paused_reason, wave.resumed_at = None, "", now
    return wave


def refuse_while_paused(wave: Wave) -> None:
    """For the decisions a paused wave may not take (inviting, reminding,
    moving on to enforcement): refuse, naming why it paused."""
    if wave.paused_at is not None:
        raise WorkflowError(f"The wave is paused: {wave.paused_reason} A security admin "
                            f"resumes it first.", reason="wave_paused", target=wave)


# --- what the wave's page shows -------------------------------------------------------

LATEST = 20


def would_refuse(wave: Wave) -> QuerySet[WouldRefuse]:
    """The sign-ins ``wave`` would have refused, newest first, with the person."""
    return (WouldRefuse.objects.filter(wave=wave).select_related("identity")
            .order_by("-at", "-pk"))


def report_only_summary(wave: Wave) -> dict:
    """The would-be refusals of ``wave``: how many, and the latest 20 (two queries)."""
    return {"count": WouldRefuse.objects.filter(wave=wave).count(),
            "latest": list(would_refuse(wave)[:LATEST]), "shown_at_most": LATEST}


def pause_state(wave: Wave, user: User) -> dict:
    """Whether ``wave`` is paused, since when and why, and whether ``user``
    may resume it (no query beyond the viewer's roles)."""
    return {"paused": wave.paused_at is not None, "since": wave.paused_at,
            "reason": wave.paused_reason, "resumed_at": wave.resumed_at,
            "may_resume": may_resume(wave, user), "limit": wave.plan.daily_case_limit}
