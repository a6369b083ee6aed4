"""The case timeline in words: each audit entry about a case as a sentence a
person reads ("Code sent to email b***@example.org"), with who did it and
when, never a raw event name or "update Case 35".

The words for every event the code records live here, in ``WORDS``: the
event's name -> a function of the entry's data and the ``Facts`` it names,
and who it was when the entry has no actor ("the person", "the system"). A
refused decision (``<decision>_refused``) reads "<Doing> was refused: <why>".
django-auditlog's model diffs are folded under the decision that made them,
or said in words when no decision stands beside them (an edit in the admin).
An event without words reads as its name in words: never a crash.

Everything the sentences name (steps, evidence, approvals, channels,
identities, people) is loaded once for the whole timeline: the case page
hands over what it already holds, and the rest is one query per kind,
whatever the number of entries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from auditlog.models import LogEntry

from accounts.models import Identity, RecoveryChannel, User

from .models import Approval, Evidence, RecoveryCase, ScriptStep, Tier
from .templatetags.times import local_text
from .workflow import BASIS_CAUSES

PERSON, SYSTEM = "the person", "the system"
REFUSED = "_refused"
# A model diff this close before a decision's entry was written by that
# decision (same transaction): it is shown under it, not as a line of its own.
FOLD_WITHIN = timedelta(seconds=2)


@dataclass(frozen=True)
class Line:
    """One entry of the timeline, in words."""

    at: datetime
    text: str
    who: str
    event: str  # the recorded event, or "changed" for a model diff standing alone
    refused: bool = False
    changes: tuple[str, ...] = ()  # the model diffs its decision made, in words
    address: str | None = None


@dataclass
class Facts:
    """What the timeline's sentences name, each loaded once."""

    case: RecoveryCase
    steps: dict[int, ScriptStep] = field(default_factory=dict)
    evidence: dict[int, Evidence] = field(default_factory=dict)
    approvals: dict[int, Approval] = field(default_factory=dict)
    channels: dict[int, RecoveryChannel] = field(default_factory=dict)
    identities: dict[int, Identity] = field(default_factory=dict)
    users: dict[int, User] = field(default_factory=dict)

    def step(self, pk) -> str:
        step = self.steps.get(pk)
        return step.title if step else "a verification step"

    def channel(self, pk, kind: str = "") -> str:
        """A channel as staff may see it: kind and masked address."""
        channel = self.channels.get(pk)
        if channel is None:
            return f"the {CHANNEL_KINDS.get(kind, 'channel')} on file"
        return f"{CHANNEL_KINDS.get(channel.kind, channel.kind)} {channel.masked_address}".strip()

    def identity(self, pk) -> str:
        identity = self.identities.get(pk)
        return identity.display_name if identity else "someone"

    def person(self, pk) -> str:
        user = self.users.get(pk)
        return full_name(user) if user else "someone"


CHANNEL_KINDS = {"email": "email", "phone": "phone", "totp": "authenticator app"}


def full_name(user: User) -> str:
    return user.get_full_name() or user.username


def readable(name: str) -> str:
    """``case_note_added`` -> "Case note added": the words of last resort."""
    words = " ".join(str(name or "").replace("_", " ").replace("-", " ").split())
    return words[:1].upper() + words[1:] if words else "Something happened"


def _moment(value) -> str:
    try:
        return local_text(datetime.fromisoformat(value), "j M, H:i")
    except (TypeError, ValueError):
        return ""


def _tier(value) -> str:
    return Tier(value).label if value in Tier.values else readable(value)


def _quoted(text) -> str:
    return f"“{text}”" if text else ""


def _with(sentence: str, detail) -> str:
    """``sentence``, and ": detail" when there is one."""
    return f"{sentence}: {detail}" if detail else sentence


# --- the words for each event --------------------------------------------------

@dataclass(frozen=True)
class Wording:
    says: Callable[..., str]  # (data, facts) -> the sentence; also actor= if names_actor
    nobody: str = SYSTEM  # who it was when the entry names no actor
    names_actor: bool = False  # the sentence names who did it ("Approved by Sam Supervisor")


WORDS: dict[str, Wording] = {}


def says(*events: str, nobody: str = SYSTEM, names_actor: bool = False):
    def register(fn: Callable[..., str]) -> Callable[..., str]:
        for event in events:
            WORDS[event] = Wording(fn, nobody, names_actor)
        return fn

    return register


# The directory's runs and the identity changes they make (recorded on the
# run and the identity, not on a case; said here for the audit's readers).
DIRECTORY_RUN = {
    "directory_previewed": "Directory changes previewed",
    "directory_run_waiting": "Directory run waiting for a security admin's confirmation",
    "directory_run_confirmed": "Directory run confirmed",
    "directory_run_discarded": "Directory run discarded",
    "directory_run_failed": "Directory run failed",
    "directory_run_succeeded": "Directory run applied",
    "directory_identity_created": "Identity created from the directory",
    "directory_identity_changed": "Identity changed by the directory",
    "directory_identity_deactivated": "Identity deactivated: it left the directory",
    "directory_client_created": "SCIM client created",
    "directory_client_revoked": "SCIM client's token revoked",
    "scim_request": "SCIM request",
    "scim_user_written": "User written by a SCIM client",
    "scim_user_deleted": "User deleted by a SCIM client",
    "scim_group_written": "Group written by a SCIM client",
    "scim_group_deleted": "Group deleted by a SCIM client",
}


def _directory(event: str) -> Callable[[dict, Facts], str]:
    def said(data: dict, facts: Facts) -> str:
        source = data.get("source_name")
        return f"{DIRECTORY_RUN[event]}{f' ({source})' if isinstance(source, str) else ''}"
    return said


for _event in DIRECTORY_RUN:
    says(_event)(_directory(_event))


OPENED_BY = {
    RecoveryCase.Source.SELF_SERVICE: "Case opened by self-service request",
    RecoveryCase.Source.DESK: "Case opened at the service desk",
    RecoveryCase.Source.REPUDIATION: "Case opened because the person answered “this wasn't "
                                     "me” to an earlier recovery",
}


@says("case_opened", nobody=PERSON)
def _case_opened(data: dict, facts: Facts) -> str:
    opened = OPENED_BY.get(data.get("source"), "Case opened")
    reasons = data.get("reasons")
    reasons = " ".join(str(r) for r in reasons) if isinstance(reasons, list) else ""
    tier = f"risk tier {_tier(data['tier'])}" if data.get("tier") else ""
    team = f", in the queue of {data['team_name']}" if data.get("team_name") else ""
    return _with(f"{opened}{', ' + tier if tier else ''}{team}", reasons)


@says("case_claimed")
def _case_claimed(data: dict, facts: Facts) -> str:
    return "Case claimed"


@says("case_unclaimed")
def _case_unclaimed(data: dict, facts: Facts) -> str:
    return "Case given back to the queue"


@says("channel_code_sent")
def _code_sent(data: dict, facts: Facts) -> str:
    sent = f"Code sent to {facts.channel(data.get('channel'), data.get('channel_kind', ''))}"
    expires = _moment(data.get("expires_at"))
    return f"{sent}{f', valid until {expires}' if expires else ''}"


@says("evidence_recorded")
def _evidence(data: dict, facts: Facts) -> str:
    evidence = facts.evidence.get(data.get("evidence"))
    step = facts.step(evidence.step_id if evidence else data.get("step"))
    result = (evidence.result if evidence else data.get("result")) or "recorded"
    how = []
    if evidence is not None and evidence.attester_id:
        how.append(f"answered by {evidence.attester.display_name}")
    channel = evidence.channel_id if evidence else data.get("channel")
    if channel:
        how.append(f"through {facts.channel(channel)}")
    if evidence is not None and evidence.details.get("document_type"):
        how.append(f"{evidence.details['document_type']} ending "
                   f"{evidence.details.get('last4', '')}")
    text = f"Evidence recorded: {step} — {result}"
    if how:
        text += f" ({', '.join(how)})"
    if evidence is not None and evidence.note and not evidence.attester_id:
        text += f": {_quoted(evidence.note)}"
    return text


@says("attestation_requested")
def _attestation_requested(data: dict, facts: Facts) -> str:
    relation = data.get("relation") or "attester"
    return (f"Link sent to the {relation}, {facts.identity(data.get('attester'))}, at "
            f"{facts.channel(data.get('channel'))}, asking them to confirm the request")


@says("case_verified")
def _case_verified(data: dict, facts: Facts) -> str:
    return "Case verified: every required step passed"


@says("approval_requested")
def _approval_requested(data: dict, facts: Facts) -> str:
    who = ("a security admin" if facts.case.rules.approver_role == "security_admin"
           else "a supervisor")
    needed = data.get("approvals_required") or 1
    count = f"{needed} distinct approvals needed" if needed > 1 else "1 approval needed"
    return f"Approval requested from {who} ({count})"


def _decision_reason(data: dict, facts: Facts) -> str:
    approval = facts.approvals.get(data.get("approval"))
    return _quoted(approval.reason) if approval else ""


@says("approval_given", names_actor=True)
def _approval_given(data: dict, facts: Facts, *, actor: str = "") -> str:
    given, required = data.get("given"), data.get("required")
    count = f" ({given} of {required})" if required and required > 1 else ""
    return _with(f"Approved by {actor or 'a supervisor'}{count}", _decision_reason(data, facts))


@says("case_denied", names_actor=True)
def _case_denied(data: dict, facts: Facts, *, actor: str = "") -> str:
    return _with(f"Denied by {actor or 'a supervisor'}; the case is closed",
                 _decision_reason(data, facts))


@says("case_approved")
def _case_approved(data: dict, facts: Facts) -> str:
    if data.get("by") == "policy":
        tier = _tier(data.get("tier") or facts.case.tier).lower()
        return f"Case approved by policy: the {tier} tier needs no supervisor's approval"
    names = ", ".join(facts.person(pk) for pk in data.get("approvers") or [])
    return f"Case approved: the approvals it needs were given{f' (by {names})' if names else ''}"


FAILED_BECAUSE = {"attestation_refused": "the manager, sponsor or owner refused the request"}


@says("case_failed")
def _case_failed(data: dict, facts: Facts) -> str:
    reason = data.get("reason", "")
    return _with("Verification failed; the case is closed and nothing was reset",
                 FAILED_BECAUSE.get(reason) or _quoted(reason))


@says("case_escalated")
def _case_escalated(data: dict, facts: Facts) -> str:
    tiers = ""
    if data.get("from_tier") and data.get("to_tier"):
        tiers = f" from tier {_tier(data['from_tier'])} to {_tier(data['to_tier'])}"
    return _with(f"Escalated{tiers}", _quoted(data.get("reason")))


@says("pressure_checklist_answered")
def _pressure_checklist(data: dict, facts: Facts) -> str:
    labels = data.get("labels") or []
    if not labels:
        return _with("Pressure checklist answered: no sign of social engineering observed",
                     _quoted(data.get("note")))
    tiers = ""
    if data.get("from_tier") and data.get("to_tier") and data["from_tier"] != data["to_tier"]:
        tiers = f"; tier raised from {_tier(data['from_tier'])} to {_tier(data['to_tier'])}"
    text = (f"Pressure signs observed: {'; '.join(str(label) for label in labels)}{tiers}; "
            "a supervisor must approve")
    return _with(text, _quoted(data.get("note")))


@says("issue_released", names_actor=True)
def _issue_released(data: dict, facts: Facts, *, actor: str = "") -> str:
    return _with(f"Released by {actor or 'a supervisor'}: the agent was past their team's "
                 "daily limit of recovery credentials", _quoted(data.get("reason")))


@says("credential_issued")
def _credential_issued(data: dict, facts: Facts) -> str:
    if data.get("channel"):
        text = f"Recovery credential sent to {facts.channel(data['channel'])}"
    else:
        text = "Recovery credential issued, to be read out to the caller"
    expires = _moment(data.get("expires_at"))
    return f"{text}{f', valid until {expires}' if expires else ''}"


@says("credential_redeemed", nobody=PERSON)
def _credential_redeemed(data: dict, facts: Facts) -> str:
    return "Recovery credential redeemed: a recovery session opened to enrol a new passkey"


VOIDED_BECAUSE = {
    **BASIS_CAUSES,
    "case_escalated": "the case was escalated to a stricter tier",
    "pressure_signs": "the agent observed signs of social engineering (the tier went up)",
    "case_denied": "the case was denied",
    "case_failed": "verification failed",
    "case_completed": "the case was completed",
    "lost_device_used": "a passkey the person reported lost signed in",
}


@says("credential_voided")
def _credential_voided(data: dict, facts: Facts) -> str:
    cause = data.get("cause", "")
    return _with("Live recovery credential voided",
                 VOIDED_BECAUSE.get(cause) or readable(cause).lower())


@says("case_completed", nobody=PERSON)
def _case_completed(data: dict, facts: Facts) -> str:
    revoked = len(data.get("revoked_passkeys") or [])
    old = {0: "", 1: "; 1 old passkey revoked"}.get(revoked, f"; {revoked} old passkeys revoked")
    ended = "; other sessions ended" if data.get("sessions_ended") not in (None, "none") else ""
    return f"Recovery completed: a new passkey was enrolled{old}{ended}"


@says("case_cancelled")
def _case_cancelled(data: dict, facts: Facts) -> str:
    if data.get("cause") in BASIS_CAUSES:
        return f"Case cancelled: {BASIS_CAUSES[data['cause']]}"
    return _with("Case cancelled", _quoted(data.get("reason")))


EXPIRED_BECAUSE = {"deadline": "its deadline passed",
                   "credential_ran_out": "the recovery credential ran out unused"}


@says("case_expired")
def _case_expired(data: dict, facts: Facts) -> str:
    why = EXPIRED_BECAUSE.get(data.get("reason", ""), "its deadline passed")
    deadline = _moment(data.get("deadline"))
    return f"Case expired: {why}{f' (deadline {deadline})' if deadline else ''}"


@says("case_repudiated", nobody=PERSON)
def _case_repudiated(data: dict, facts: Facts) -> str:
    follow_up = f"; case #{data['follow_up']} follows it up" if data.get("follow_up") else ""
    return ("The person answered “this wasn't me”: the passkey this recovery enrolled is "
            f"frozen and their sessions ended{follow_up}")


REVIEW_ROLES = {"opened": "opened the case", "worked": "worked it",
                "approved": "approved the reset", "issued": "issued the recovery credential"}
REVIEW_OUTCOMES = {"cleared": "cleared", "coaching": "coaching",
                   "referred": "referred for disciplinary action"}


@says("involvement_marked")
def _involvement_marked(data: dict, facts: Facts) -> str:
    roles = data.get("roles") if isinstance(data.get("roles"), list) else []
    did = ", ".join(REVIEW_ROLES.get(str(r), readable(r).lower()) for r in roles)
    who = data.get("staff_name") or facts.person(data.get("staff"))
    return f"Marked for review after the repudiation: {who}" + (f" ({did})" if did else "")


@says("review_closed", names_actor=True)
def _review_closed(data: dict, facts: Facts, *, actor: str = "") -> str:
    who = data.get("staff_name") or facts.person(data.get("staff"))
    outcome = REVIEW_OUTCOMES.get(data.get("outcome"), readable(data.get("outcome")).lower())
    return _with(f"Review of {who}'s part closed by {actor or 'a security admin'}: {outcome}",
                 _quoted(data.get("note")))


@says("rotation_recorded")
def _rotation_recorded(data: dict, facts: Facts) -> str:
    reference = f" (reference {data['reference']})" if data.get("reference") else ""
    return f"Service account credential rotated{reference}: the case is complete"


@says("case_note_added", names_actor=True)
def _note(data: dict, facts: Facts, *, actor: str = "") -> str:
    return f"Note by {actor or 'someone'}: {_quoted(data.get('text') or '')}"


@says("case_handed_over")
def _handed_over(data: dict, facts: Facts) -> str:
    to = data.get("to_name") or facts.person(data.get("to"))
    return _with(f"Handed over to {to}", _quoted(data.get("note")))


@says("case_reassigned", names_actor=True)
def _reassigned(data: dict, facts: Facts, *, actor: str = "") -> str:
    to = data.get("to_name") or facts.person(data.get("to"))
    source = data.get("from_name") or "nobody"
    return _with(f"Reassigned from {source} to {to} by {actor or 'a supervisor'}",
                 _quoted(data.get("note")))


@says("case_routed")
def _case_routed(data: dict, facts: Facts) -> str:
    source = data.get("from_name") or "the console's own desk"
    to = data.get("to_name") or "the console's own desk"
    why = {"escalated": "at its stricter tier",
           "pressure_signs": "at its stricter tier after signs of pressure"}.get(
        data.get("why"), data.get("why") or "")
    text = f"Moved from {source} to {to}{f' {why}' if why else ''}: {source} does not serve it"
    if data.get("released_name") or data.get("released"):
        holder = data.get("released_name") or facts.person(data.get("released"))
        text += f"; {holder} is not in {to}, so no longer holds it"
    return text


# Events about other objects than a case (channels, alerts, passkeys, sign-ins,
# audit samples): a timeline of a case never lists them today, but every event
# the code records has its words, for any page that lists entries.
OTHER_EVENTS = {
    "channel_marked_stale": "Channel marked stale: not confirmed within the policy's age",
    "channel_revoked": "Channel revoked",
    "alert_raised": "Watch-period alert raised",
    "alert_acknowledged": "Alert acknowledged",
    "recovery_allowed": "One more recovery of the person allowed by a security admin after "
                        "a refusal for velocity",
    "staff_sign_in": "Signed in to the console",
    "sign_in": "Signed in",
    "rate_limited": "Too many attempts: refused for a while",
    "passkey_registered": "Passkey registered",
    "passkey_revoked": "Passkey revoked",
    "step_up": "Stepped up (confirmed it's them again)",
    "sample_drawn": "Audit sample drawn",
    "sample_finding": "Audit finding recorded",
    # Passkey rollout: inviting a wave's members, and what each invitation saw.
    "wave_invited": "Wave's members invited to enrol a passkey",
    "invitation_sent": "Invited to enrol a passkey",
    "invitation_reminded": "Reminded to enrol a passkey",
    "invitation_snoozed": "Put off enrolling a passkey",
    "invitation_enrolled": "Enrolled a passkey as invited",
    "enrolment_link_used": "Passkey enrolment link used",
    "would_refuse_recorded": "Signed in without a passkey: a rollout wave in report-only "
                             "mode would have refused it",
    "wave_paused": "Rollout wave paused itself: too many recovery cases from its members",
    "wave_resumed": "Rollout wave resumed",
    "application_registered": "Application registered with the built-in OpenID provider",
    "application_changed": "Application's registration with the OpenID provider changed",
    "application_signed_in": "Signed in to an application through the OpenID provider",
}
for _event, _text in OTHER_EVENTS.items():
    WORDS[_event] = Wording(lambda data, facts, _text=_text: _text,
                            nobody="someone" if _event == "rate_limited" else SYSTEM)


# --- refusals --------------------------------------------------------------------

# A decision (``_decision(event)``) as the start of "… was refused".
DOING = {
    "case_open": "Opening a case",
    "case_claim": "Claiming the case",
    "case_unclaim": "Giving the case back",
    "channel_code_send": "Sending a code",
    "channel_code_check": "Checking a code",
    "evidence_record": "Recording evidence",
    "attestation_request": "Asking for an attestation",
    "attestation_answer": "Answering the attestation link",
    "case_verify": "Marking the case verified",
    "case_fail": "Failing verification",
    "case_escalate": "Escalating the case",
    "credential_issue": "Issuing a credential",
    "credential_redeem": "Redeeming the recovery credential",
    "case_complete": "Completing the recovery",
    "case_cancel": "Cancelling the case",
    "case_expire": "Expiring the case",
    "credential_void": "Voiding the credential",
    "case_repudiate": "Answering “this wasn't me”",
    "rotation_record": "Recording the credential rotation",
    "approval_request": "Asking for approval",
    "approval": "Approving",
    "denial": "Denying",
    "case_note": "Adding a note",
    "case_hand_over": "Handing the case over",
    "case_reassign": "Reassigning the case",
    "alert_acknowledge": "Acknowledging alerts",
    "review_close": "Closing the review of a person's part",
    "recovery_allow": "Allowing one more recovery",
    "issue_release": "Releasing the case past the agent's daily limit",
    "pressure_checklist": "Answering the pressure checklist",
    "channel_revoke": "Revoking stale channels",
    "directory_preview": "Previewing directory changes",
    "directory_apply": "Applying directory changes",
    "directory_confirm": "Confirming a directory run",
    "directory_discard": "Discarding a directory run",
    "directory_client_create": "Creating a SCIM client",
    "directory_client_revoke": "Revoking a SCIM client",
    "scim_request": "Calling the SCIM service",
    "scim_user_write": "Writing a user over SCIM",
    "scim_group_write": "Writing a group over SCIM",
    "sign_in": "Signing in",
    "step_up": "Confirming it's them (step-up)",
    "passkey_registration": "Registering a passkey",
    "passkey_authentication": "Signing in with a passkey",
    "wave_invite": "Inviting a wave's members",
    "invitation_snooze": "Putting off enrolling a passkey",
    "enrolment_link_use": "Opening a passkey enrolment link",
    "wave_pause": "Pausing the rollout wave",
    "wave_resume": "Resuming the rollout wave",
    "application_register": "Registering an application with the OpenID provider",
    "application_sign_in": "Signing in to an application",
}
# Who refused decisions without an actor were tried by.
REFUSED_NOBODY = {"credential_redeem": PERSON, "case_complete": PERSON,
                  "case_repudiate": PERSON, "case_open": PERSON,
                  "attestation_answer": "the attester", "scim_request": "a SCIM client",
                  "scim_user_write": "a SCIM client", "scim_group_write": "a SCIM client"}

# A refusal's stable reason (WorkflowError.reason), said of whoever tried.
# A reason missing here reads as the refusal's own message.
WHY = {
    "role": "their role may not do this",
    "not_holder": "they do not hold the case",
    "subject": "it is a recovery of their own account",
    "reason_required": "no reason was given",
    "reason_length": "the reason was too long",
    "already_holder": "they already held the case",
    "held_by_other": "another agent held the case",
    "already_escalated": "the case was already escalated to the strictest tier",
    "not_needed": "this tier needs no supervisor's approval",
    "owner_approval": "they own this service account",
    "worked_case": "they worked on this case",
    "velocity_identity": "too many recoveries of this person within the window: routed to "
                         "security",
    "velocity_agent": "the agent was past their team's daily limit of recovery credentials",
    "release_not_needed": "the agent was within their daily limit",
    "already_released": "the case was already released",
    "checklist_answered": "the pressure checklist was already answered",
    "checklist_missing": "the pressure checklist was not answered yet",
    "checklist_choice": "neither signs nor “none observed” (or both) were ticked",
    "unknown_sign": "a sign not on the checklist was ticked",
    "not_velocity_alert": "the alert was not a refusal for velocity",
    "already_allowed": "one more recovery was already allowed",
    "already_decided": "they had already decided on this case",
    "rotation_path": "a service account ends in a credential rotation, not a passkey",
    "passkey_path": "only service accounts end in a credential rotation",
    "foreign_channel": "that is not a registered email or phone of this person",
    "stale_channel": "the channel was stale or revoked",
    "recent_channel": "the channel changed recently and is untrusted for this tier",
    "foreign_step": "the step is not part of this case's script",
    "wrong_step_kind": "the action does not fit the step",
    "step_order": "an earlier required step had not passed",
    "step_done": "the step had already passed",
    "too_many_codes": "too many codes were sent for the step",
    "no_code": "no code was waiting",
    "code_expired": "the code had expired",
    "code_exhausted": "the code had no tries left",
    "note_length": "the note was too long",
    "note_too_long": "the note was too long",
    "note_characters": "the note held characters that are not allowed",
    "target_inactive": "the colleague's account was not active",
    "target_not_agent": "the colleague is not an agent",
    "target_holds": "the colleague already held the case",
    "target_subject": "the colleague is the person being recovered",
    "target_decided": "the colleague had decided on the case's approval",
    "outside_team": "the case is routed to a help-desk team they are not in",
    "target_outside_team": "the colleague is not in the help-desk team the case is routed to",
    "too_many": "too many were chosen at once",
    "unknown_alert": "a chosen alert does not exist",
    "bad_records": "the source's records could not be read",
    "out_of_scope": "the identity is outside the source's scope",
    "run_closed": "the directory run was already closed",
    "run_state": "the directory run was not waiting for that",
    "source_disabled": "the directory source is disabled",
    "not_ldap": "the directory source is not an LDAP source",
    "stale_preview": "the directory changed since the preview",
    "not_scim_source": "the directory source is not a SCIM source",
    "grant_type": "applications may use the authorization code flow only",
    "signing_algorithm": "ID tokens are signed with RS256 only",
    "redirect_uri": "no redirect URI was given",
    "not_an_identity": "a staff account is not a person's identity",
    "identity_inactive": "the account was not active",
    "not_unique": "the name was already taken",
    "client_revoked": "the SCIM client's token was revoked",
    "unknown_member": "a member is not a user of the source",
    "stale_user": "the user changed while the request ran",
    "stale_group": "the group changed while the request ran",
    "note_required": "the note did not say who answered the callback",
    "knowledge_not_allowed": "knowledge questions count only for low-risk cases",
    "document_details": "the document type and its last 4 characters were not given",
    "no_totp": "no usable authenticator is on file",
    "totp_throttled": "too many wrong authenticator codes",
    "no_attester": "no active manager, sponsor or owner is on file",
    "self_attestation": "the attester on file is the person being recovered",
    "attester_conflict": "the attester would have been the agent or the subject",
    "no_attester_channel": "the attester has no usable registered channel",
    "unknown_link": "the link was not valid",
    "answered": "the request was already answered",
    "expired": "it had expired",
    "used": "it had already been used",
    "voided": "it had been voided",
    "too_many_attempts": "too many wrong codes were tried",
    "steps_missing": "some required steps had not passed",
    "step_up": "they had not confirmed it was them (step-up) in the last minutes",
    "stale_form": "another credential had been issued since the page was opened",
    "not_due": "the case had not reached its deadline",
    "bad_reference": "the rotation reference was missing or too long",
    "session_ended": "the recovery session had ended",
    "foreign_passkey": "the passkey belongs to another account",
    "already_open": "a case is already open for this person",
    "inactive": "the account is not active",
    "contract_ended": "the contractor's contract has ended",
    "self_service_not_allowed": "this account cannot be recovered by self-service request",
    "case_state": "the case was no longer waiting for it",
    "throttled": "too many attempts",
    "acknowledged": "the alert was already acknowledged",
    "none_chosen": "no channel was chosen",
    "none_stale": "none of the chosen channels was stale and live any more",
    "not_security_admin": "only security admins may do this",
    "bad_second_factor": "the passkey or authenticator code was wrong",
    "unknown_account": "no account matches what was given",
    "ambiguous_account": "more than one account matches what was given",
    "wave_paused": "the wave was paused",
    "wave_done": "the wave was done",
    "already_enrolled": "they had already enrolled a passkey",
    "deadline_passed": "the enrolment deadline had passed",
    "snooze_limit": "they had put it off as many times as the plan allows",
    "not_yours": "it was someone else's",
    "bad_credentials": "the username or password was wrong",
    "not_staff": "the account holds no staff role",
    "no_identity": "the account is not an active person's (no identity)",
    "passkey_required": "a rollout wave they belong to requires a passkey (pointed to recovery)",
    "wave_not_paused": "the rollout wave was not paused",
    "own_review": "it was the review of their own part",
    "review_closed": "the review was already closed",
    "bad_outcome": "no valid outcome was chosen",
    **BASIS_CAUSES,
}


# --- passkey rollout: cohorts, plans, waves and exceptions (rollout.workflow) -----

ROLLOUT_EVENTS = {
    "rollout_cohort_created": "Rollout cohort created",
    "rollout_cohort_changed": "Rollout cohort changed",
    "rollout_plan_created": "Rollout plan created",
    "rollout_plan_changed": "Rollout plan changed",
    "rollout_wave_added": "Wave added to the rollout plan",
    "rollout_waves_reordered": "Rollout plan's waves put in a new order",
    "rollout_pilot_chosen": "Pilot sample chosen",
    "rollout_exception_added": "Rollout exception granted",
    "rollout_exception_ended": "Rollout exception ended early",
    "rollout_exception_expired": "Rollout exception expired",
}
ROLLOUT_STAGES = {"pilot": "pilot", "invite": "invite", "report_only": "report-only",
                  "enforce": "enforce", "done": "done"}
for _event, _text in ROLLOUT_EVENTS.items():
    WORDS[_event] = Wording(lambda data, facts, _text=_text: _text, SYSTEM)


@says("rollout_wave_moved")
def _wave_moved(data: dict, facts: Facts) -> str:
    before, after = (ROLLOUT_STAGES.get(str(data.get(key)), "another stage")
                     for key in ("stage", "to_stage"))
    return f"Wave moved from {before} to {after}"


DOING.update({
    "rollout_cohort_save": "Saving a rollout cohort",
    "rollout_plan_save": "Saving a rollout plan",
    "rollout_wave_add": "Adding a wave to the rollout plan",
    "rollout_wave_reorder": "Ordering the rollout plan's waves",
    "rollout_pilot_choose": "Choosing the pilot sample",
    "rollout_wave_move": "Moving the wave to its next stage",
    "rollout_exception_add": "Granting a rollout exception",
    "rollout_exception_end": "Ending a rollout exception",
})
WHY.update({
    "cohort_in_plan": "the cohort is already a wave of the plan",
    "bad_order": "the order did not name every wave of the plan once",
    "not_pilot": "the wave was past its pilot",
    "not_member": "the person is not a member of the wave's cohort",
    "unknown_stage": "there is no such stage",
    "illegal_move": "a wave moves one stage on at a time",
    "wave_paused": "the wave was paused",
    "report_only_running": "the wave's report-only period had not run its course",
    "gate_failing": "the readiness gate failed",
    "expiry_past": "the expiry was not in the future",
    "expiry_too_far": "the expiry was too far ahead",
    "owner_not_staff": "the owner is not active staff",
    "exception_exists": "the person already had an open exception from that stage",
    "exception_ended": "the exception had already ended",
})


def _refusal(event: str, data: dict, facts: Facts) -> str:
    decision = event.removesuffix(REFUSED)
    reason = data.get("reason", "")
    if reason == "state" and data.get("state"):
        why = f"the case was {RecoveryCase.State(data['state']).label.lower()}" \
            if data["state"] in RecoveryCase.State.values else "the case was in another state"
    else:
        why = WHY.get(reason) or data.get("message") or readable(reason).lower()
    return _with(f"{DOING.get(decision, readable(decision))} was refused", why)


# --- model diffs -----------------------------------------------------------------

# The case's fields worth a word when they change; the rest (timestamps a
# decision sets, the frozen policy) are said by the decision itself.
CASE_FIELDS = ("state", "tier", "agent", "deadline", "high_priority", "escalation_reason",
               "closing_reason")


def _changes(entry: LogEntry, facts: Facts) -> tuple[str, ...]:
    """A django-auditlog diff of the case, in words: "State: Verified → Awaiting approval"."""
    said = []
    changes = entry.changes if isinstance(entry.changes, dict) else {}
    for name in CASE_FIELDS:
        if not isinstance(changes.get(name), list | tuple) or len(changes[name]) != 2:
            continue
        before, after = (_field_value(name, value, facts) for value in changes[name][:2])
        label = RecoveryCase._meta.get_field(name).verbose_name.capitalize()
        if entry.action == LogEntry.Action.CREATE:
            if after not in ("none", "no"):
                said.append(f"{label}: {after}")
        elif before != after:
            said.append(f"{label}: {before} → {after}")
    return tuple(said)


def _field_value(name: str, value, facts: Facts) -> str:
    if value in (None, "None", ""):
        return "none"
    if name == "state":
        return RecoveryCase.State(value).label if value in RecoveryCase.State.values else value
    if name == "tier":
        return _tier(value)
    if name == "agent":
        return facts.person(_int(value))
    if name == "high_priority":
        return "yes" if value in (True, "True") else "no"
    if name == "deadline":
        try:
            return local_text(datetime.fromisoformat(str(value)), "j M, H:i")
        except ValueError:
            return str(value)
    return f"“{value}”"


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


CHANGED = {LogEntry.Action.CREATE: "Case record created",
           LogEntry.Action.UPDATE: "Case record changed",
           LogEntry.Action.DELETE: "Case record deleted"}


# --- the timeline ----------------------------------------------------------------

def event_of(entry: LogEntry) -> str:
    data = entry.additional_data
    return str(data.get("event") or "") if isinstance(data, dict) else ""


def sentence(entry: LogEntry, facts: Facts) -> tuple[str, str]:
    """What ``entry`` says, and who did it: never raises."""
    event = event_of(entry)
    data = entry.additional_data if isinstance(entry.additional_data, dict) else {}
    actor = full_name(entry.actor) if entry.actor_id and entry.actor else ""
    wording = WORDS.get(event)
    refused = wording is None and event.endswith(REFUSED)
    try:
        if refused:
            text = _refusal(event, data, facts)
        elif wording is None:
            text = readable(event)
        elif wording.names_actor:
            text = wording.says(data, facts, actor=actor)
        else:
            text = wording.says(data, facts)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        text = readable(event)
    nobody = (REFUSED_NOBODY.get(event.removesuffix(REFUSED), "someone") if refused
              else wording.nobody if wording else SYSTEM)
    # An attester answers through a link, as the identity the case names.
    return text, _attester(event, data, facts) or actor or nobody


def _attester(event: str, data: dict, facts: Facts) -> str:
    if event != "evidence_recorded":
        return ""
    evidence = facts.evidence.get(_int(data.get("evidence")))
    return evidence.attester.display_name if evidence and evidence.attester_id else ""


def lines(entries: Iterable[LogEntry], facts: Facts) -> list[Line]:
    """The timeline: one line per decision or refusal, with the model diffs
    its transaction wrote folded under it; a diff with no decision beside it
    (an edit in the admin) is a line of its own, in words."""
    entries = list(entries)
    folded: dict[int, list[str]] = {}
    alone = set()
    for index, entry in enumerate(entries):
        if event_of(entry):
            continue
        owner = _decision_beside(entries, index)
        if owner is None:
            alone.add(index)
        else:
            folded.setdefault(owner, []).extend(_changes(entry, facts))
    result = []
    for index, entry in enumerate(entries):
        event = event_of(entry)
        if event:
            text, who = sentence(entry, facts)
            result.append(Line(entry.timestamp, text, who, event,
                               refused=event.endswith(REFUSED),
                               changes=tuple(folded.get(index, ())),
                               address=entry.remote_addr))
        elif index in alone:
            changes = _changes(entry, facts)
            text = CHANGED.get(entry.action, "Case record changed")
            result.append(Line(entry.timestamp, _with(text, "; ".join(changes)),
                               full_name(entry.actor) if entry.actor_id else SYSTEM,
                               "changed", address=entry.remote_addr))
    return result


def _decision_beside(entries: list[LogEntry], index: int) -> int | None:
    """The decision whose transaction wrote the diff at ``index``: a
    decision saves the case, then records itself, so it is the next decision
    entry, moments later, by the same person (a diff written outside a
    request names nobody). Anything else stands alone."""
    diff = entries[index]
    for other in range(index + 1, len(entries)):
        candidate = entries[other]
        if candidate.timestamp - diff.timestamp > FOLD_WITHIN:
            return None
        if event_of(candidate):
            same_person = diff.actor_id is None or diff.actor_id == candidate.actor_id
            return other if same_person else None
    return None


def load_facts(case: RecoveryCase, entries: list[LogEntry], *, steps=(), evidence=(),
               approvals=(), channels=()) -> Facts:
    """The facts ``entries`` name: those given (what the page already
    holds), and the rest in one query per kind."""
    facts = Facts(case=case, steps={s.pk: s for s in steps},
                  evidence={e.pk: e for e in evidence}, approvals={a.pk: a for a in approvals},
                  channels={c.pk: c for c in channels})
    for item in evidence:
        if item.channel_id and item.channel is not None:
            facts.channels.setdefault(item.channel_id, item.channel)
        if item.attester_id:
            facts.identities.setdefault(item.attester_id, item.attester)
    for approval in approvals:
        facts.users.setdefault(approval.approver_id, approval.approver)
    wanted_channels, wanted_identities, wanted_users = set(), set(), set()
    for entry in entries:
        data = entry.additional_data if isinstance(entry.additional_data, dict) else {}
        if entry.actor_id and entry.actor:
            facts.users.setdefault(entry.actor_id, entry.actor)
        wanted_channels.add(_int(data.get("channel")))
        wanted_identities.add(_int(data.get("attester")))
        if isinstance(data.get("approvers"), list):
            wanted_users.update(_int(pk) for pk in data["approvers"])
        wanted_users.add(_int(data.get("to")))
        changes = entry.changes if isinstance(entry.changes, dict) else {}
        if isinstance(changes.get("agent"), list):
            wanted_users.update(_int(v) for v in changes["agent"])
    _load(facts.channels, wanted_channels, RecoveryChannel.objects.all())
    _load(facts.identities, wanted_identities, Identity.objects.only("pk", "display_name"))
    _load(facts.users, wanted_users,
          User.objects.only("pk", "username", "first_name", "last_name"))
    return facts


def _load(known: dict, wanted: set, queryset) -> None:
    missing = {pk for pk in wanted if pk is not None} - set(known)
    if missing:
        known.update(queryset.in_bulk(missing))


# --- restore targets (recovery_console.restore) ------------------------------------

PROVIDERS = {"entra": "Entra ID", "okta": "Okta", "keycloak": "Keycloak"}


def _provider(data: dict) -> str:
    return PROVIDERS.get(data.get("provider"), "the identity provider")


def _request_ids(data: dict) -> str:
    ids = data.get("request_ids") or ([data["request_id"]] if data.get("request_id") else [])
    ids = [str(i) for i in ids if i] if isinstance(ids, list) else []
    return f" (request id {', '.join(ids)})" if ids else ""


@says("restore_started")
def _restore_started(data: dict, facts: Facts) -> str:
    trial = " as a dry run" if data.get("dry_run") else ""
    return (f"Restore handed to {_provider(data)} (target {data.get('restore_target', '?')})"
            f"{trial}: the case waits until the provider confirms")


@says("restore_credential_created")
def _restore_credential_created(data: dict, facts: Facts) -> str:
    expires = _moment(data.get("expires_at"))
    until = f", valid until {expires}" if expires else ""
    return f"{_provider(data)} created a temporary credential{until}{_request_ids(data)}"


@says("restore_passkeys_removed")
def _restore_passkeys_removed(data: dict, facts: Facts) -> str:
    removed = data.get("removed") if isinstance(data.get("removed"), list) else []
    return (f"{_provider(data)} deleted {len(removed)} old passkey(s)"
            f"{_request_ids(data)}")


@says("restore_sessions_revoked")
def _restore_sessions_revoked(data: dict, facts: Facts) -> str:
    return f"{_provider(data)} ended the person's sessions{_request_ids(data)}"


@says("restore_lost_credential_removed")
def _restore_lost_credential_removed(data: dict, facts: Facts) -> str:
    return (f"{_provider(data)} deleted a temporary credential an interrupted try had created, "
            f"whose value nobody held{_request_ids(data)}")


@says("restore_retry")
def _restore_retry(data: dict, facts: Facts) -> str:
    wait = data.get("retry_in")
    later = f"; trying again in {wait} s" if isinstance(wait, int) else ""
    return _with(f"{_provider(data)} did not answer as asked{later}",
                 f"{data.get('reason', '')}{_request_ids(data)}")


@says("restore_failed")
def _restore_failed(data: dict, facts: Facts) -> str:
    return _with(f"Restoring at {_provider(data)} failed; the case is back with the agent and "
                 "nothing was restored", f"{data.get('reason', '')}{_request_ids(data)}")


@says("restore_dry_run")
def _restore_dry_run(data: dict, facts: Facts) -> str:
    calls = data.get("calls") if isinstance(data.get("calls"), list) else []
    return _with(f"Dry run at {_provider(data)}: nothing was called or restored; it would "
                 "have", "; ".join(str(c) for c in calls))


@says("restore_confirmed")
def _restore_confirmed(data: dict, facts: Facts) -> str:
    how = {"channel": "sent to the person's registered channel",
           "read_out": "to be read out once by the agent",
           "provider": "emailed by the provider"}.get(data.get("delivery"), "delivered")
    return (f"{_provider(data)} confirmed: temporary credential {how}; the case is "
            f"complete{_request_ids(data)}")


@says("restore_abandoned")
def _restore_abandoned(data: dict, facts: Facts) -> str:
    return "Restore at the identity provider abandoned: the case had closed"


@says("restore_credential_shown", names_actor=True)
def _restore_credential_shown(data: dict, facts: Facts, *, actor: str = "") -> str:
    return f"Provider's temporary credential shown once to {actor or 'the agent'} to read out"


DOING.update({"restore_begin": "Handing the restore to the identity provider",
              "restore_reveal": "Showing the provider's credential"})
WHY.update({
    "subject_source_mismatch": "the person is not managed by the directory the provider "
                               "shares its ids with",
    "no_subject_mapping": "the directory gives no id at the provider for the person",
    "target_not_configured": "the restore target's credentials are missing on the console",
    "already_shown": "the credential had already been shown once",
})


# --- identity verification providers (recovery_console.idv) ------------------------

IDV_PROVIDERS = {"persona": "Persona"}


def _idv_provider(data: dict) -> str:
    return IDV_PROVIDERS.get(data.get("provider"), "the verification provider")


@says("idv_started")
def _idv_started(data: dict, facts: Facts) -> str:
    sent = (f"Identity verification started at {_idv_provider(data)}: link sent to "
            f"{facts.channel(data.get('channel'), data.get('channel_kind', ''))}")
    expires = _moment(data.get("expires_at"))
    return f"{sent}{f', answered until {expires}' if expires else ''}"


@says("idv_result_taken", nobody="the verification provider")
def _idv_result_taken(data: dict, facts: Facts) -> str:
    result = {"passed": "passed", "failed": "failed"}.get(data.get("result"), "decided")
    return (f"{_idv_provider(data)} reported the identity check {result} (signed callback "
            f"for verification {data.get('verification', '?')}): {facts.step(data.get('step'))}")


DOING.update({"idv_start": "Starting an identity verification",
              "idv_callback": "Taking the verification provider's callback"})
REFUSED_NOBODY["idv_callback"] = "the verification provider (or someone posing as it)"
WHY.update({
    "idv_not_configured": "no identity verification provider is configured",
    "too_many_verifications": "too many verifications were started for the step",
    "idv_provider_error": "the verification provider did not start it",
    "bad_signature": "the callback's signature did not match",
    "unreadable": "the callback could not be read",
    "stale_callback": "the callback was signed too long ago",
    "unknown_verification": "it named no verification the console started",
    "subject_mismatch": "it was about another person",
    "template_mismatch": "it used another verification template",
    "replayed_event": "its result had already been taken (a replay)",
    "verification_replaced": "a newer verification had replaced it",
    "verification_expired": "the verification had expired",
    "stale_result": "the result was older than the verification",
})


# --- the "lost" passkey still signing in; sign-in event sources ------------------

@says("lost_device_used")
def _lost_device_used(data: dict, facts: Facts) -> str:
    seen = "the console's portal" if data.get("via") == "console" else \
        f"sign-in events from {data.get('via') or 'a source'}"
    again = "again, before any review: " if data.get("again") else ""
    return (f"A passkey reported lost signed in {again}seen by {seen}; issuing waits for a "
            "supervisor's review")


@says("lost_device_reviewed", names_actor=True)
def _lost_device_reviewed(data: dict, facts: Facts, *, actor: str = "") -> str:
    return _with(f"Lost passkey's sign-in reviewed by {actor or 'a supervisor'}",
                 f"“{data.get('note', '')}”")


WORDS["signin_source_created"] = Wording(lambda data, facts: "Sign-in event source registered",
                                         SYSTEM)
WORDS["signin_source_revoked"] = Wording(lambda data, facts: "Sign-in event source revoked",
                                         SYSTEM)
DOING.update({"lost_device_flag": "Flagging a lost passkey's sign-in",
              "lost_device_review": "Reviewing a lost passkey's sign-in",
              "signin_source_create": "Registering a sign-in event source",
              "signin_source_revoke": "Revoking a sign-in event source"})
WHY.update({
    "lost_device_unreviewed": "a passkey the person reported lost signed in, and no supervisor "
                              "had reviewed it",
    "nothing_to_review": "no lost passkey's sign-in was waiting for review",
})
