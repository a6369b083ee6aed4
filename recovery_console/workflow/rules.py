"""Who may do what, and on what facts: pure checks that read the objects
they are given and write nothing. The ``may_*`` functions (one per action a
page offers) return a refusal or None: ``selectors.actions_for`` offers an
action exactly when its function returns None, and the decision raises what
the same function returns on the locked case. The shared ``_require_*``
checks they are made of, the channel check, and the basis a recovery
credential rests on (``BASIS_CAUSES``, ``_basis_refusal``) live here too.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps

from django.db.models import Q

from accounts.models import Identity, RecoveryChannel, User
from accounts.roles import Role, roles_of

from .. import channels, clock, notices, tokens
from ..models import (
    NOTE_MAX_LENGTH,
    IssueRelease,
    PressureAnswer,
    PressureSign,
    RecoveryCase,
    RecoveryCredential,
    Repudiation,
    Team,
    Tier,
)
from .base import WorkflowError

State = RecoveryCase.State


WORK_PERMISSION = "recovery.work_recoverycase"


def _require_role(user: User | None, *roles: Role) -> None:
    if user is None or not set(roles_of(user)).intersection(roles):
        names = " or ".join(r.value.replace("_", " ") for r in roles)
        article = "an" if names[0] in "aeiou" else "a"
        raise WorkflowError(f"Only {article} {names} may do this.", reason="role",
                            status=WorkflowError.FORBIDDEN)


def _require_holder(case: RecoveryCase, agent: User) -> None:
    _require_role(agent, Role.AGENT)
    _require_scope(case, agent)
    if case.agent_id != agent.pk or not _has_grant(case, agent):
        raise WorkflowError("Claim this case before working on it.", reason="not_holder",
                            status=WorkflowError.FORBIDDEN)


# Roles that see every case, whatever team it is routed to.
UNSCOPED_ROLES = frozenset({Role.SUPERVISOR, Role.AUDITOR, Role.SECURITY_ADMIN})


def team_ids(user: User) -> frozenset[int]:
    """The help-desk teams ``user`` is a member of, read once and cached on
    the user for the request (as their roles are)."""
    cached = getattr(user, "_team_ids", None)
    if cached is None:
        cached = frozenset(Team.members.through.objects.filter(user_id=user.pk)
                           .values_list("team_id", flat=True))
        user._team_ids = cached
    return cached


def in_scope(case: RecoveryCase, user: User) -> bool:
    """Whether ``case`` is in the scope of what ``user`` may see: everything
    for supervisors, auditors and security admins; for an agent in teams,
    cases routed to one of their teams; for an agent in no team (the
    console's own desk), cases routed to no team."""
    if roles_of(user) & UNSCOPED_ROLES:
        return True
    known = case.__dict__.get(_SCOPED, {})
    if user.pk in known:
        return known[user.pk]
    mine = team_ids(user)
    return case.team_id in mine if mine else case.team_id is None


_SCOPED = "_in_scope_of"


def known_scope(case: RecoveryCase, user: User) -> None:
    """Tell ``in_scope`` that a list page read ``case`` through the viewer's
    scope (``selectors.team_scope``), so the rules asked of each listed case
    read nothing more. Only on the page's copy: a decision locks and reads a
    fresh case."""
    case.__dict__.setdefault(_SCOPED, {})[user.pk] = True


def _require_scope(case: RecoveryCase, user: User) -> None:
    if not in_scope(case, user):
        # Outside their team's scope a case does not exist for them: 404, as on the pages.
        raise WorkflowError("No such case is open to you.", reason="outside_team",
                            status=WorkflowError.NOT_FOUND)


def _has_grant(case: RecoveryCase, agent: User) -> bool:
    # Asked once per copy of the case: a page asks every may_* of one copy,
    # and each decision locks (so reads) a fresh one.
    grants = case.__dict__.setdefault("_work_grants", {})
    if agent.pk not in grants:
        grants[agent.pk] = agent.has_perm(WORK_PERMISSION, case)
    return grants[agent.pk]


def _require_state(case: RecoveryCase, *states: str, doing: str) -> None:
    if case.state not in states:
        raise WorkflowError(
            f"You cannot {doing} while the case is {case.get_state_display().lower()}.",
            reason="state", state=case.state,
        )


def _require_subject_is_not(case: RecoveryCase, user: User, doing: str) -> None:
    if case.identity.user_id is not None and case.identity.user_id == user.pk:
        raise WorkflowError(f"You cannot {doing} a recovery of your own account.",
                            reason="subject", status=WorkflowError.FORBIDDEN)


def _require_reason(reason: str, limit: int = 1000) -> None:
    if not reason or not reason.strip():
        raise WorkflowError("Give a reason.", reason="reason_required",
                            status=WorkflowError.BAD_REQUEST)
    if len(reason) > limit:
        raise WorkflowError(f"The reason is too long ({limit} characters at most).",
                            reason="reason_length", status=WorkflowError.BAD_REQUEST)


# Controls a note may not hold: C0 (a line break is kept as "\n"), DEL and
# C1, the Unicode line and paragraph separators, and the bidirectional
# embeddings, overrides and isolates that make text read otherwise than it
# is stored ("Trojan Source"). A tab is refused too, like any other control.
_NOTE_REFUSED = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e"
                           "\u2066-\u2069]")


def _note_text(text: str) -> str:
    """A note as it is kept: every line end a line feed, blank lines around it
    and spaces at line ends dropped. Refused when empty, longer than
    ``NOTE_MAX_LENGTH``, or holding a control character other than a line
    break (never cleaned away silently)."""
    lines = (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    text = "\n".join(line.rstrip(" ") for line in lines).strip("\n")
    if not text.strip():
        raise WorkflowError("Write the note.", reason="note_required",
                            status=WorkflowError.BAD_REQUEST)
    if len(text) > NOTE_MAX_LENGTH:
        raise WorkflowError(f"The note is too long ({NOTE_MAX_LENGTH} characters at most).",
                            reason="note_length", status=WorkflowError.BAD_REQUEST)
    found = _NOTE_REFUSED.search(text)
    if found:
        raise WorkflowError(
            f"Remove the control character U+{ord(found.group()):04X} from the note: only "
            "line breaks are kept.", reason="note_characters", status=WorkflowError.BAD_REQUEST)
    return text


def staff_name(user: User) -> str:
    """How a colleague is named on pages and in the audit trail: their full
    name, else their username."""
    return user.get_full_name() or user.username


# --- who may do what --------------------------------------------------------
# One ``may_*`` function per decision a page offers. Each returns the refusal
# (a WorkflowError, not raised) or None, reads the case as it is given and
# writes nothing: the case page offers an action exactly when its function
# returns None (selectors.actions_for), and the decision, on the locked case,
# raises what the same function returns. No rule is written twice.

def _as_refusal(rule: Callable[..., None]) -> Callable[..., WorkflowError | None]:
    @wraps(rule)
    def may(*args, **kwargs) -> WorkflowError | None:
        try:
            rule(*args, **kwargs)
        except WorkflowError as refusal:
            return refusal
        return None

    return may


def _enforce(refusal: WorkflowError | None) -> None:
    if refusal is not None:
        raise refusal


@_as_refusal
def may_claim(case: RecoveryCase, user: User) -> WorkflowError | None:
    """An agent may take an open case nobody holds, in their team's scope,
    unless it is their own recovery."""
    _require_role(user, Role.AGENT)
    _require_scope(case, user)
    _require_state(case, *RecoveryCase.OPEN_STATES, doing="claim a case")
    _require_subject_is_not(case, user, "work on")
    if case.agent_id == user.pk:
        raise WorkflowError("You already hold this case.", reason="already_holder")
    if case.agent_id is not None:
        raise WorkflowError("Another agent holds this case.", reason="held_by_other")


@_as_refusal
def may_unclaim(case: RecoveryCase, user: User) -> WorkflowError | None:
    """The holding agent may give an open case back to the queue."""
    _require_holder(case, user)
    _require_state(case, *RecoveryCase.OPEN_STATES, doing="give back a case")


@_as_refusal
def may_work(case: RecoveryCase, user: User, *,
             doing: str = "work on the verification steps") -> WorkflowError | None:
    """The holding agent may work the script's steps while the case is verifying."""
    _require_holder(case, user)
    _require_state(case, State.VERIFYING, doing=doing)


@_as_refusal
def may_fail(case: RecoveryCase, user: User) -> WorkflowError | None:
    """The holding agent may end verification as failed; so may a supervisor
    once the agent escalated the case to them (never on their own recovery)."""
    if case.escalated_at is not None and Role.SUPERVISOR in roles_of(user):
        _require_subject_is_not(case, user, "fail")
    else:
        _require_holder(case, user)
    _require_state(case, State.VERIFYING, doing="fail verification")


@_as_refusal
def may_escalate(case: RecoveryCase, user: User) -> WorkflowError | None:
    """The holding agent may escalate a case they cannot verify, while it is
    verifying, until it is escalated at the strictest tier."""
    _require_holder(case, user)
    _require_state(case, State.VERIFYING, doing="escalate a case")
    if case.escalated_at is not None and case.tier == Tier.RESTRICTED:
        raise WorkflowError("This case is already escalated at the strictest tier: fail it, "
                            "or ask a supervisor.", reason="already_escalated")


@_as_refusal
def may_request_approval(case: RecoveryCase, user: User) -> WorkflowError | None:
    """The holding agent may send a verified case whose tier needs approvals
    to the approvers."""
    _require_holder(case, user)
    _require_state(case, State.VERIFIED, doing="ask for approval")
    if case.rules.approvals_required == 0:
        raise WorkflowError("This tier needs no supervisor approval.", reason="not_needed")


@_as_refusal
def may_decide(case: RecoveryCase, user: User) -> WorkflowError | None:
    """An approver of the case's population (a supervisor, or a security
    admin for governance cases) may approve or deny a case awaiting approval:
    never its agent, its opener, anyone who claimed it or recorded evidence on
    it (even if they gave it back), its subject or its account's owner, and
    once. (The decision also wants a reason and a fresh step-up.)"""
    _require_role(user, Role(case.rules.approver_role))
    owner = case.identity.owner if case.identity.kind == Identity.Kind.SERVICE_ACCOUNT else None
    if owner is not None and owner.user_id == user.pk:
        raise WorkflowError("You own this service account: another security admin must "
                            "approve its rotation.", reason="owner_approval",
                            status=WorkflowError.FORBIDDEN)
    _require_state(case, State.AWAITING_APPROVAL, doing="decide on this case")
    _require_subject_is_not(case, user, "approve or deny")
    if user.pk in (case.agent_id, case.opened_by_id) or _has_worked(case, user):
        raise WorkflowError("You worked on this case, so another supervisor must decide.",
                            reason="worked_case", status=WorkflowError.FORBIDDEN)
    if _has_decided(case, user):
        raise WorkflowError("You already decided on this case.", reason="already_decided")


@_as_refusal
def may_issue(case: RecoveryCase, user: User) -> WorkflowError | None:
    """The holding agent may issue the recovery credential of an approved
    case (again, once issued), unless it ends in a credential rotation."""
    _require_holder(case, user)
    _require_state(case, State.APPROVED, State.CREDENTIAL_ISSUED, doing="issue a credential")
    if case.rules.path == "rotation":
        raise WorkflowError("A shared service account is never recovered with a passkey: "
                            "record its credential rotation instead.", reason="rotation_path")
    if case.lost_device_unreviewed:
        raise WorkflowError("A passkey the person reported lost signed in after the case "
                            "opened: a supervisor must review it before anything is issued.",
                            reason="lost_device_unreviewed")
    _require_under_daily_limit(case, user)


@_as_refusal
def may_review_lost_device(case: RecoveryCase, user: User) -> WorkflowError | None:
    """A supervisor may review an open case's flagged lost-device sign-in:
    never its agent, its opener, anyone who worked it, or its subject."""
    _require_role(user, Role.SUPERVISOR)
    _require_state(case, *RecoveryCase.OPEN_STATES, doing="review a lost device's sign-in")
    if not case.lost_device_unreviewed:
        raise WorkflowError("No sign-in of a lost device waits for review on this case.",
                            reason="nothing_to_review")
    _require_subject_is_not(case, user, "review")
    if user.pk in (case.agent_id, case.opened_by_id) or _has_worked(case, user):
        raise WorkflowError("You worked on this case, so another supervisor must review it.",
                            reason="worked_case", status=WorkflowError.FORBIDDEN)


# --- velocity per agent ---------------------------------------------------------
# An agent's day is the UTC calendar day (from 00:00 UTC), the same for
# every agent whatever their time zone; the hour is the rolling last hour.

def utc_day_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def norms_of(case: RecoveryCase) -> Team:
    """The velocity norms an issue on ``case`` is held to: its team's; the
    console's own desk (no team) has a team's defaults."""
    return case.team if case.team_id is not None else Team()


def issued_since(agent: User, since: datetime) -> int:
    """Recovery credentials ``agent`` issued since ``since`` (voided ones too:
    each was a reset handed out)."""
    return RecoveryCredential.objects.filter(issued_by=agent, created_at__gte=since).count()


def past_daily_limit(case: RecoveryCase, agent: User) -> tuple[int, int] | None:
    """(issued today, the limit) when ``agent`` reached the daily limit of
    ``case``'s team, else None."""
    limit = norms_of(case).daily_limit
    today = issued_since(agent, utc_day_start(clock.now()))
    return (today, limit) if today >= limit else None


def _release_of(case: RecoveryCase) -> IssueRelease | None:
    try:
        return case.issue_release
    except IssueRelease.DoesNotExist:
        return None


def _require_under_daily_limit(case: RecoveryCase, agent: User) -> None:
    past = past_daily_limit(case, agent)
    if past is None:
        return
    release = _release_of(case)
    if release is not None and release.agent_id == agent.pk:
        return
    today, limit = past
    raise WorkflowError(
        f"You issued {today} recovery credentials today (UTC day), the daily limit of your "
        f"team is {limit}: a supervisor must release this case before you issue its "
        "credential.", reason="velocity_agent", issued_today=today, daily_limit=limit)


@_as_refusal
def may_release_issue(case: RecoveryCase, user: User) -> WorkflowError | None:
    """A supervisor may release a case whose holding agent is past their
    team's daily limit, so its credential may be issued: never the agent,
    anyone who opened or worked the case, or its subject; once per case.
    (The decision also wants a reason and a fresh step-up.)"""
    _require_role(user, Role.SUPERVISOR)
    _require_state(case, State.APPROVED, State.CREDENTIAL_ISSUED, doing="release an issue")
    _require_subject_is_not(case, user, "release")
    if case.agent_id is None or past_daily_limit(case, case.agent) is None:
        raise WorkflowError("The case's agent is within their daily limit: no release is "
                            "needed.", reason="release_not_needed")
    if user.pk in (case.agent_id, case.opened_by_id) or _has_worked(case, user):
        raise WorkflowError("You worked on this case, so another supervisor must release it.",
                            reason="worked_case", status=WorkflowError.FORBIDDEN)
    release = _release_of(case)
    if release is not None and release.agent_id == case.agent_id:
        raise WorkflowError("This case is already released.", reason="already_released")


# --- the pressure checklist ------------------------------------------------------

def pressure_signs() -> list[PressureSign]:
    return list(PressureSign.objects.filter(active=True))


def pressure_answer_of(case: RecoveryCase) -> PressureAnswer | None:
    try:
        return case.pressure_answer
    except PressureAnswer.DoesNotExist:
        return None


@_as_refusal
def may_answer_pressure(case: RecoveryCase, user: User) -> WorkflowError | None:
    """The holding agent answers the case's pressure checklist once, while
    it is verifying."""
    _require_holder(case, user)
    _require_state(case, State.VERIFYING, doing="answer the pressure checklist")
    if pressure_answer_of(case) is not None:
        raise WorkflowError("The pressure checklist of this case is already answered.",
                            reason="checklist_answered")


@_as_refusal
def may_rotate(case: RecoveryCase, user: User) -> WorkflowError | None:
    """The holding agent may record the credential rotation that ends an
    approved governance case (shared service accounts)."""
    _require_holder(case, user)
    _require_state(case, State.APPROVED, doing="record a credential rotation")
    if case.rules.path != "rotation":
        raise WorkflowError("Only shared service accounts end in a credential rotation.",
                            reason="passkey_path")


@_as_refusal
def may_cancel(case: RecoveryCase, user: User) -> WorkflowError | None:
    """The holding agent, or any supervisor, may cancel an open case."""
    if Role.SUPERVISOR not in roles_of(user):
        _require_holder(case, user)
    _require_state(case, *RecoveryCase.OPEN_STATES, doing="cancel a case")


@_as_refusal
def may_add_note(case: RecoveryCase, user: User) -> WorkflowError | None:
    """A supervisor may add a note to any open case; an agent to an open case
    they hold or nobody holds (the open cases they may see). Never on their
    own recovery."""
    _require_role(user, Role.AGENT, Role.SUPERVISOR)
    _require_scope(case, user)
    if Role.SUPERVISOR not in roles_of(user) and case.agent_id is not None:
        _require_holder(case, user)
    _require_state(case, *RecoveryCase.OPEN_STATES, doing="add a note")
    _require_subject_is_not(case, user, "add a note to")


@_as_refusal
def may_hand_over(case: RecoveryCase, user: User) -> WorkflowError | None:
    """The holding agent may hand an open case to a colleague (``may_hold``
    says to whom)."""
    _require_holder(case, user)
    _require_state(case, *RecoveryCase.OPEN_STATES, doing="hand over a case")


@_as_refusal
def may_reassign(case: RecoveryCase, user: User) -> WorkflowError | None:
    """A supervisor may give any open case to an agent (``may_hold`` says to
    whom), held or not; never their own recovery."""
    _require_role(user, Role.SUPERVISOR)
    _require_state(case, *RecoveryCase.OPEN_STATES, doing="reassign a case")
    _require_subject_is_not(case, user, "reassign")


@_as_refusal
def may_hold(case: RecoveryCase, user: User) -> WorkflowError | None:
    """Who a case may be handed over or reassigned to: an active agent who
    may see it (in the team it is routed to, or in no team for a case of the
    console's own desk), does not hold it already, is not its subject, and
    did not approve or deny it (the approver never also restores access)."""
    name = staff_name(user)
    if not user.is_active:
        raise WorkflowError(f"{name}'s account is not active.", reason="target_inactive",
                            status=WorkflowError.BAD_REQUEST)
    if Role.AGENT not in roles_of(user):
        raise WorkflowError(f"{name} is not an agent: only an agent can hold a case.",
                            reason="target_not_agent", status=WorkflowError.BAD_REQUEST)
    if not in_scope(case, user):
        where = f"the team {case.team}" if case.team_id else "the console's own desk"
        raise WorkflowError(f"{name} cannot see this case: it is routed to {where}, and they "
                            "are not one of its agents.", reason="target_outside_team",
                            status=WorkflowError.BAD_REQUEST)
    if case.agent_id == user.pk:
        raise WorkflowError(f"{name} already holds this case.", reason="target_holds")
    if case.identity.user_id is not None and case.identity.user_id == user.pk:
        raise WorkflowError(f"This is {name}'s own recovery: they cannot work on it.",
                            reason="target_subject", status=WorkflowError.FORBIDDEN)
    if case.approvals.filter(approver=user).exists():
        raise WorkflowError(f"{name} decided on this case's approval, so they cannot also "
                            "restore access.", reason="target_decided",
                            status=WorkflowError.FORBIDDEN)


# Audit entries that make a person one who worked a case: they claimed it,
# or it was handed over or reassigned to them.
HANDED_EVENTS = ("case_handed_over", "case_reassigned")


def worked_entries(user: User) -> Q:
    """Which audit entries (about a case) say ``user`` held it: a claim they
    made, a hand-over or reassignment to them (``to`` in its data)."""
    return (Q(actor=user, additional_data__event="case_claimed")
            | Q(additional_data__event__in=HANDED_EVENTS, additional_data__to=user.pk))


def _has_worked(case: RecoveryCase, user: User) -> bool:
    from auditlog.models import LogEntry

    known = case.__dict__.get(_WORKED, {})
    if user.pk in known:
        return known[user.pk]
    return case.evidence.filter(actor=user).exists() or LogEntry.objects.filter(
        worked_entries(user), object_pk=str(case.pk),
        content_type__app_label="recovery", content_type__model="recoverycase",
    ).exists()


def _has_decided(case: RecoveryCase, user: User) -> bool:
    known = case.__dict__.get(_DECIDED, {})
    if user.pk in known:
        return known[user.pk]
    return case.approvals.filter(approver=user).exists()


_WORKED, _DECIDED = "_worked_by", "_decided_by"


def known_involvement(case: RecoveryCase, user: User, *, worked: bool, decided: bool) -> None:
    """Tell ``may_decide`` what a list page read for many cases in one query
    (whether ``user`` worked on or decided ``case``), so asking the rule of
    each listed case reads nothing more. Only on the page's copy: a
    decision locks and reads a fresh case, and asks the database."""
    case.__dict__.setdefault(_WORKED, {})[user.pk] = worked
    case.__dict__.setdefault(_DECIDED, {})[user.pk] = decided


def _check_channel(case: RecoveryCase, channel: RecoveryChannel, now: datetime,
                   identity: Identity | None = None) -> None:
    """A channel may carry a code or a link only if it was registered for the
    identity beforehand, is not stale, and (high tiers) did not just change."""
    identity = identity or case.identity
    if channel.identity_id != identity.pk or channel.kind not in notices.MEDIUM_FOR_CHANNEL:
        raise WorkflowError("Use a registered email or phone channel of this person.",
                            reason="foreign_channel")
    why = channels.unusable_because(channel, case.rules, now)
    if why in (channels.REVOKED, channels.STALE):
        raise WorkflowError("That channel is stale or revoked; choose another or escalate.",
                            reason="stale_channel", channel=channel.pk)
    if why == channels.RECENTLY_CHANGED:
        raise WorkflowError("That channel changed recently and cannot be trusted for this tier.",
                            reason="recent_channel", channel=channel.pk)


# Facts a live recovery credential or recovery session rests on; when one of
# them no longer holds, the credential and session die (DESIGN: "The basis of
# a credential"). The words complete "... no longer works: <words>".
BASIS_CAUSES = {
    "identity_inactive": "the account was deactivated",
    "identity_deprovisioned": "the account was disabled or removed in the organisation's "
                              "directory",
    "channel_revoked": "the channel it was sent to was revoked",
    "channel_changed": "the channel it was sent to was changed",
    "channel_stale": "the channel it was sent to is no longer confirmed",
    "repudiated": "someone answered \u201cthis wasn't me\u201d to an earlier recovery",
    "case_cancelled": "the recovery case was cancelled",
    "case_expired": "the recovery case ran out of time",
}
# The facts outside a case: a change to one stops every recovery of the
# identity resting on it (``void_basis``). A case's own closing voids only
# its own secrets, never another case's.
OUTSIDE_THE_CASE = frozenset(
    {"identity_inactive", "identity_deprovisioned", "channel_revoked", "channel_changed",
     "channel_stale", "repudiated"})
# Of those, the facts every recovery of the identity rests on, whatever it was sent to.
WHOLE_IDENTITY = frozenset({"identity_inactive", "identity_deprovisioned"})


def _basis_refusal(case: RecoveryCase, credential: RecoveryCredential,
                   now: datetime) -> str | None:
    """Which fact a credential (or the session it opened) rested on no longer
    holds, or None. Checked at every use, so a path that changed a fact
    without voiding still cannot restore access."""
    if not case.identity.is_active:
        return "identity_inactive"
    if case.state != State.CREDENTIAL_ISSUED:
        return "case_cancelled" if case.state == State.CANCELLED else "case_state"
    if credential.channel_id is not None:
        # Read after the case is locked (or loaded with the session): fresh.
        channel = credential.channel
        if channel.revoked_at is not None:
            return "channel_revoked"
        if not hmac.compare_digest(credential.channel_fingerprint, tokens.channel_fingerprint(
                channel.kind, channel.address, channel.totp_device_id)):
            return "channel_changed"
        if channels.is_stale(channel, case.rules.channel_max_age, now):
            return "channel_stale"
    if Repudiation.objects.filter(case__identity_id=case.identity_id,
                                  used_at__gte=credential.created_at).exists():
        return "repudiated"
    return None


# --- repudiation feeds back: reviews of the staff involved -------------------

@_as_refusal
def may_close_review(review, user: User) -> WorkflowError | None:
    """Only a security admin closes a review of someone's part in a
    repudiated recovery (an ``InvolvementReview``), once, and never the
    review of their own part."""
    _require_role(user, Role.SECURITY_ADMIN)
    if review.staff_id == user.pk:
        raise WorkflowError("You cannot review your own part in a repudiated recovery: "
                            "another security admin must.", reason="own_review",
                            status=WorkflowError.FORBIDDEN)
    if review.closed_at is not None:
        raise WorkflowError("This review is already closed.", reason="review_closed")
