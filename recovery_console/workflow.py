"""The recovery workflow: one function per decision.

Each function takes the actor explicitly, checks their right, locks the case,
changes state, writes evidence/approval rows and the audit entry, and owes
notices in the outbox, all in one transaction. A refusal raises
``WorkflowError`` with a message a person can act on; the transaction is
rolled back and the refusal itself is audited (``<decision>_refused``).

Views, admin actions, tasks and commands call these; none re-implements them.
"""

from __future__ import annotations

import hmac
import inspect
import ipaddress
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps
from queue import Empty, SimpleQueue

from auditlog import context as auditlog_context
from auditlog.models import LogEntry
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connections, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import Now
from django.http import HttpRequest
from django.urls import reverse
from guardian.shortcuts import assign_perm, remove_perm

from accounts.identifiers import canonical, identities_named
from accounts.models import Identity, PasskeyCredential, RecoveryChannel, User
from accounts.roles import Role, roles_of
from audit.events import client_address, record, record_many

from . import alerts, channels, clock, notices, populations, schedule, self_service, tokens
from .models import (
    Alert,
    Approval,
    Attestation,
    ChannelCode,
    CredentialRotation,
    Evidence,
    RecoveryCase,
    RecoveryCredential,
    RecoveryPolicy,
    RecoverySession,
    Repudiation,
    ScriptStep,
    SelfServiceRequest,
    Tier,
)
from .risk import RECENT_CASE_WINDOW, assess

State = RecoveryCase.State
Kind = ScriptStep.Kind
WORK_PERMISSION = "recovery.work_recoverycase"
MAX_CODES_PER_STEP = 5
AGENT_RECORDED_KINDS = (Kind.TOTP, Kind.CALLBACK, Kind.ID_DOCUMENT, Kind.KNOWLEDGE)
DOCUMENT_TYPES = {
    "passport": "Passport",
    "national_id": "National identity card",
    "driving_licence": "Driving licence",
    "residence_permit": "Residence permit",
}
REDEEM_REFUSED = "This recovery credential cannot be used. Ask the service desk for a new one."


class WorkflowError(Exception):
    """A refused decision: ``message`` is for the person who tried."""

    def __init__(self, message: str, *, reason: str = "refused", target=None, **data):
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.target = target
        self.data = data


@dataclass
class IssuedCredential:
    credential: RecoveryCredential
    code: str  # shown once, to be read out; never stored ("" for a replay)
    link: str
    replayed: bool = False  # the same issue form again: nothing was issued



@dataclass
class OpenedSession:
    session: RecoverySession
    token: str  # kept only in the redeemer's browser session


def _decision(event: str) -> Callable:
    """Run a decision in one transaction; audit a refusal after rolling back."""

    def wrap(fn: Callable) -> Callable:
        signature = inspect.signature(fn)

        @wraps(fn)
        def run(*args, **kwargs):
            try:
                with transaction.atomic():
                    return fn(*args, **kwargs)
            except WorkflowError as refusal:
                _audit_refusal(event, refusal, signature.bind_partial(*args, **kwargs).arguments)
                raise

        return run

    return wrap


def _audit_refusal(event: str, refusal: WorkflowError, arguments: dict) -> None:
    target = refusal.target or arguments.get("case") or arguments.get("recovery_session")
    actor = next((arguments[k] for k in ("actor", "agent", "approver") if arguments.get(k)), None)
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    record(f"{event}_refused", target=target if target is not None else RecoveryCase,
           actor=actor, request=arguments.get("request"), reason=refusal.reason,
           message=refusal.message, **refusal.data)


# --- rights and state -------------------------------------------------------

def _lock(case_id: int) -> RecoveryCase:
    """The case re-read and locked until the transaction ends, with its
    identity (read, not locked): every decision checks whose recovery it is."""
    return (RecoveryCase.objects.select_for_update(of=("self",)).select_related("identity")
            .get(pk=case_id))


def _require_role(user: User | None, *roles: Role) -> None:
    if user is None or not set(roles_of(user)).intersection(roles):
        names = " or ".join(r.value.replace("_", " ") for r in roles)
        raise WorkflowError(f"Only a {names} may do this.", reason="role")


def _require_holder(case: RecoveryCase, agent: User) -> None:
    _require_role(agent, Role.AGENT)
    if case.agent_id != agent.pk or not _has_grant(case, agent):
        raise WorkflowError("Claim this case before working on it.", reason="not_holder")


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
                            reason="subject")


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
    """An agent may take an open case nobody holds, unless it is their own recovery."""
    _require_role(user, Role.AGENT)
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
                            "approve its rotation.", reason="owner_approval")
    _require_state(case, State.AWAITING_APPROVAL, doing="decide on this case")
    _require_subject_is_not(case, user, "approve or deny")
    if user.pk in (case.agent_id, case.opened_by_id) or _has_worked(case, user):
        raise WorkflowError("You worked on this case, so another supervisor must decide.",
                            reason="worked_case")
    if case.approvals.filter(approver=user).exists():
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


def _require_step(case: RecoveryCase, step: ScriptStep, *kinds: str) -> None:
    """The step belongs to the case's script, is of the right kind, and every
    earlier required step has passed: the script is followed in order."""
    if step.script_id != case.script_id:
        raise WorkflowError("That step is not part of this case's script.", reason="foreign_step")
    if kinds and step.kind not in kinds:
        raise WorkflowError("That action does not fit this step.", reason="wrong_step_kind")
    passed = _passed_step_ids(case)
    for earlier in case.script.steps.filter(position__lt=step.position, required=True):
        if earlier.pk not in passed:
            raise WorkflowError(f"Finish step {earlier.position} ({earlier.title}) first.",
                                reason="step_order", step=step.pk)
    if step.pk in passed:
        raise WorkflowError("This step has already passed.", reason="step_done")


def _passed_step_ids(case: RecoveryCase) -> set[int]:
    return set(case.evidence.filter(result=Evidence.Result.PASSED)
               .values_list("step_id", flat=True))


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


def _void_live_secrets(case: RecoveryCase, now: datetime, cause: str, *,
                       actor: User | None = None, request: HttpRequest | None = None) -> bool:
    """Void every live code, link, recovery credential and recovery session
    of ``case``; audit the voiding of a credential or session with its cause.
    True when a credential or session was live (the subject must be told)."""
    case.channel_codes.filter(used_at__isnull=True, voided_at__isnull=True).update(voided_at=now)
    case.attestations.filter(answered_at__isnull=True, voided_at__isnull=True).update(
        voided_at=now)
    credentials = []
    for credential in case.credentials.filter(used_at__isnull=True, voided_at__isnull=True):
        credential.voided_at, credential.void_cause = now, cause[:30]
        credential.save(update_fields=["voided_at", "void_cause"])
        credentials.append(credential.pk)
    sessions = list(case.sessions.filter(used_at__isnull=True, expires_at__gt=now)
                    .values_list("pk", flat=True))
    RecoverySession.objects.filter(pk__in=sessions).update(expires_at=now)
    if not credentials and not sessions:
        return False
    record("credential_voided", target=case, actor=actor, request=request, cause=cause,
           credentials=credentials, sessions=sessions)
    return True


# Facts a live recovery credential or recovery session rests on; when one of
# them no longer holds, the credential and session die (DESIGN: "The basis of
# a credential"). The words complete "... no longer works: <words>".
BASIS_CAUSES = {
    "identity_inactive": "the account was deactivated",
    "channel_revoked": "the channel it was sent to was revoked",
    "channel_changed": "the channel it was sent to was changed",
    "channel_stale": "the channel it was sent to is no longer confirmed",
    "repudiated": "someone answered \u201cthis wasn't me\u201d to an earlier recovery",
    "case_cancelled": "the recovery case was cancelled",
    "case_expired": "the recovery case ran out of time",
}


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
        channel = RecoveryChannel.objects.filter(pk=credential.channel_id).first()
        if channel is None or channel.revoked_at is not None:
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


def _void_basis(identity_id: int, cause: str, now: datetime, *,
                channel_id: int | None = None, actor: User | None = None,
                request: HttpRequest | None = None) -> list[int]:
    """Stop every recovery of the identity that rests on the fact that just
    changed: its live credential and session are voided and its case is
    cancelled (a new case starts again from verification); codes and
    attestation links waiting on a changed channel die too. The subject (on
    the channels that remain) and security monitoring are told."""
    if channel_id is not None:
        ChannelCode.objects.filter(channel_id=channel_id, used_at__isnull=True,
                                   voided_at__isnull=True).update(voided_at=now)
        Attestation.objects.filter(channel_id=channel_id, answered_at__isnull=True,
                                   voided_at__isnull=True).update(voided_at=now)
    cases = (RecoveryCase.objects.select_for_update(of=("self",)).select_related("identity")
             .filter(identity_id=identity_id, state__in=RecoveryCase.OPEN_STATES).order_by("pk"))
    stopped = []
    for case in cases:
        if cause != "identity_inactive" and not _rests_on(case, cause, channel_id, now):
            continue
        reason = f"Recovery stopped: {BASIS_CAUSES[cause]}."
        voided = _close(case, State.CANCELLED, now, reason, cause=cause, actor=actor,
                        request=request)
        record("case_cancelled", target=case, actor=actor, request=request, reason=reason,
               cause=cause)
        if voided:
            _tell_credential_voided(case, cause, skip_channel_id=channel_id)
        stopped.append(case.pk)
    return stopped


def _rests_on(case: RecoveryCase, cause: str, channel_id: int | None, now: datetime) -> bool:
    """Does a live credential or session of ``case`` rest on the changed fact?"""
    live = Q(case=case) & (Q(used_at__isnull=True, voided_at__isnull=True, expires_at__gt=now)
                           | Q(session__used_at__isnull=True, session__expires_at__gt=now))
    if channel_id is not None:
        live &= Q(channel_id=channel_id)
    return RecoveryCredential.objects.filter(live).exists()


def _tell_credential_voided(case: RecoveryCase, cause: str,
                            skip_channel_id: int | None = None) -> None:
    words = BASIS_CAUSES.get(cause, "the recovery case was closed")
    notices.owe_to_identity(
        case.identity, case=case, decision=f"credential-voided:{case.pk}",
        event="recovery_credential_voided", skip_channel_id=skip_channel_id,
        subject="Your recovery credential no longer works",
        body=(f"The recovery credential issued for your account no longer works: {words}. "
              "If you still need access, call the service desk. If you did not ask to "
              "recover your account, tell the service desk now."),
    )
    notices.owe_to_monitoring(
        case=case, decision=f"credential-voided:{case.pk}", event="recovery_credential_voided",
        identity=case.identity, subject="Recovery credential voided",
        body=f"Case {case.pk}: a live recovery credential or session was voided ({cause}).",
    )


@_decision("credential_void")
def void_basis(identity: Identity, cause: str, *, channel: RecoveryChannel | None = None,
               actor: User | None = None, request: HttpRequest | None = None) -> list[int]:
    """A fact a recovery rests on changed (``cause``, one of BASIS_CAUSES):
    the identity was deactivated, a channel was revoked or changed, a recovery
    was repudiated. Voids what rested on it and cancels its case, audited with
    the cause; returns the cancelled cases' ids. Called by whatever changed
    the fact (recovery_console.basis connects every save of an identity or a
    channel), in the same transaction; nobody's right to change the fact is
    checked here, only its consequence."""
    if cause not in BASIS_CAUSES:
        raise ValueError(f"unknown cause {cause!r}")
    return _void_basis(identity.pk, cause, clock.now(), channel_id=channel.pk if channel else None,
                       actor=actor, request=request)


def _move(case: RecoveryCase, state: str, now: datetime, **fields) -> None:
    case.state = state
    case.updated_at = now
    for name, value in fields.items():
        setattr(case, name, value)
    case.save()


def _site_link(name: str, *args) -> str:
    return settings.SITE_URL + reverse(name, args=args)


def read_out_address() -> str:
    """The short fixed address a person types after a phone call, as said aloud."""
    return _site_link("recovery:redeem_read_out").split("://", 1)[-1].rstrip("/")


def _relation(identity: Identity) -> tuple[str, Identity | None]:
    """Who vouches for an identity: manager (employees), sponsor (external
    people) or owner (service accounts)."""
    if identity.kind == Identity.Kind.SERVICE_ACCOUNT:
        return "owner", identity.owner
    if identity.kind == Identity.Kind.PARTNER:
        return "partner administrator", identity.partner_admin
    if identity.kind == Identity.Kind.CONTRACTOR:
        return "sponsor", identity.sponsor
    return "manager", identity.manager


# --- opening and claiming ---------------------------------------------------

def request_self_service(identifier: str, *, request: HttpRequest | None = None
                         ) -> SelfServiceRequest:
    """An end user asks for recovery. Records the request and queues its
    resolution (``resolve_self_service_request``) for a worker, and nothing
    else: the same work, and so the same time, whether or not ``identifier``
    names anyone. The page must not reveal whether an account exists.
    (Requests are rate-limited per person asked about and per address by the
    view: ``accounts.ratelimit.SELF_SERVICE``.)"""
    with transaction.atomic():
        pending = SelfServiceRequest.objects.create(
            identifier=identifier.strip()[:254], client_address=client_address(request),
            received_at=clock.now())
        self_service.resolve_on_commit(pending.pk)
    return pending


def resolve_self_service_request(request_id: int) -> str:
    """Resolve one recorded self-service request, once: open a case when the
    identifier (a directory id or a registered email address, compared in
    canonical form) names exactly one identity whose tier allows it;
    otherwise audit the refusal. The row, and with it the identifier, is
    deleted in the same transaction. Run by a worker, or by the sweep for a
    task that was lost; a second run finds nothing and does nothing."""
    with transaction.atomic():
        pending = (SelfServiceRequest.objects.select_for_update(skip_locked=True)
                   .filter(pk=request_id).first())
        if pending is None or not SelfServiceRequest.objects.filter(pk=pending.pk).delete()[0]:
            return "skipped"  # resolved already, or being resolved right now
        with auditlog_context.set_actor(None, remote_addr=pending.client_address):
            return _resolve_self_service(pending)


def _resolve_self_service(pending: SelfServiceRequest) -> str:
    named = list(identities_named(pending.identifier)[:2])
    if len(named) != 1:
        unknown = not named
        record("case_open_refused", target=Identity, actor=None,
               reason="unknown_account" if unknown else "ambiguous_account",
               message="No identity matches." if unknown else "More than one identity matches.",
               identifier_digest=tokens.digest("self-service-identifier",
                                               canonical(pending.identifier)),
               requested_at=pending.received_at.isoformat())
        return "unknown" if unknown else "ambiguous"
    try:
        open_case(named[0], source=RecoveryCase.Source.SELF_SERVICE)
    except WorkflowError:
        return "refused"  # audited by open_case; the person saw the same page regardless
    return "opened"


@_decision("case_open")
def open_case(identity: Identity, *, source: str, actor: User | None = None,
              request: HttpRequest | None = None) -> RecoveryCase:
    """Open a case for ``identity``, freezing its risk tier and policy.

    Desk cases are opened by an agent; self-service cases by nobody signed in,
    and only when the tier's policy allows self-service; repudiation cases by
    the "this wasn't me" link, high priority and at least the high tier.
    A request inside a previous recovery's watch period raises an alert."""
    now = clock.now()
    if source == RecoveryCase.Source.DESK:
        _require_role(actor, Role.AGENT)
    identity = Identity.objects.select_for_update().get(pk=identity.pk)
    if not identity.is_active:
        raise WorkflowError("This account is not active.", reason="inactive", target=identity)
    if RecoveryCase.objects.filter(identity=identity,
                                   state__in=RecoveryCase.OPEN_STATES).exists():
        raise WorkflowError("A recovery case is already open for this person.",
                            reason="already_open", target=identity)
    if identity.kind == Identity.Kind.CONTRACTOR and identity.contract_ends_on is not None \
            and identity.contract_ends_on < now.date():
        raise WorkflowError(
            f"The contract ended on {identity.contract_ends_on:%d %b %Y}: a contractor past "
            "their end date cannot be recovered. Their sponsor must renew the contract first.",
            reason="contract_ended", target=identity)
    assessment = assess(identity, now)
    tier, reasons = assessment.tier, list(assessment.reasons)
    repudiated = source == RecoveryCase.Source.REPUDIATION
    if repudiated and tier in (Tier.LOW, Tier.MEDIUM):
        tier = Tier.HIGH
        reasons.append("The person said the last recovery wasn't them: at least high.")
    applied = populations.rules_for(identity)
    if populations.TIERS.index(applied.minimum_tier) > populations.TIERS.index(tier):
        tier = applied.minimum_tier
        reasons.append(f"Population rules: at least {tier}.")
    policy = RecoveryPolicy.objects.select_related("script").get(tier=tier)
    if source == RecoveryCase.Source.SELF_SERVICE and not (
            policy.self_service_allowed and applied.self_service_allowed):
        raise WorkflowError("This account cannot be recovered by self-service request.",
                            reason="self_service_not_allowed", target=identity)
    case = RecoveryCase.objects.create(
        identity=identity, tier=tier, tier_reasons=reasons,
        policy=policy, policy_snapshot=populations.snapshot_for(applied, policy),
        script=populations.script_for(applied, policy),
        source=source, opened_by=actor if source == RecoveryCase.Source.DESK else None,
        opened_at=now, updated_at=now, high_priority=repudiated,
        deadline=now + timedelta(seconds=settings.RECOVERY_CASE_MAX_AGE_SECONDS),
    )
    alerts.watch(identity, Alert.Kind.SECOND_RECOVERY,
                 f"Case {case.pk} was opened during the watch period of an earlier recovery.",
                 request=request)
    earlier = RecoveryCase.objects.filter(identity=identity, opened_at__gte=now - RECENT_CASE_WINDOW
                                          ).exclude(pk=case.pk).count()
    if earlier:
        alerts.raise_alert(identity, Alert.Kind.REPEATED_RECOVERY,
                           f"Case {case.pk} is recovery number {earlier + 1} in 30 days"
                           f"{' for a frequent traveller' if identity.traveller else ''}.",
                           case=case, request=request)
    record("case_opened", target=case, actor=actor, request=request, tier=case.tier,
           reasons=case.tier_reasons, source=source)
    notices.owe_to_identity(
        identity, case=case, decision=f"case-opened:{case.pk}", event="recovery_requested",
        subject="Someone asked to recover access to your account",
        body=("A request to recover access to your account was received. If it was not you, "
              "call the service desk now: nothing will be reset without checks."),
    )
    return case


@_decision("case_claim")
def claim(case: RecoveryCase, agent: User, *, request: HttpRequest | None = None) -> RecoveryCase:
    """An agent takes an unclaimed open case; only they may work it from now on."""
    _require_role(agent, Role.AGENT)
    case = _lock(case.pk)
    _enforce(may_claim(case, agent))
    now = clock.now()
    state = State.VERIFYING if case.state == State.NEW else case.state
    _move(case, state, now, agent=agent, claimed_at=now)
    assign_perm(WORK_PERMISSION, agent, case)
    record("case_claimed", target=case, actor=agent, request=request, state=case.state)
    return case


@_decision("case_unclaim")
def unclaim(case: RecoveryCase, agent: User, *,
            request: HttpRequest | None = None) -> RecoveryCase:
    """The holding agent gives a case back to the queue."""
    case = _lock(case.pk)
    _enforce(may_unclaim(case, agent))
    _move(case, case.state, clock.now(), agent=None, claimed_at=None)
    remove_perm(WORK_PERMISSION, agent, case)
    record("case_unclaimed", target=case, actor=agent, request=request, state=case.state)
    return case


# --- verification steps -----------------------------------------------------

@_decision("channel_code_send")
def send_channel_code(case: RecoveryCase, agent: User, step: ScriptStep,
                      channel: RecoveryChannel, *,
                      request: HttpRequest | None = None) -> ChannelCode:
    """Send a 6-digit code, valid 10 minutes, to a registered channel of the
    subject (never to an address the caller gives). Replaces an unused one."""
    case = _lock(case.pk)
    _enforce(may_work(case, agent, doing="send a code"))
    _require_step(case, step, Kind.CHANNEL_CODE)
    now = clock.now()
    _check_channel(case, channel, now)
    if case.channel_codes.filter(step=step).count() >= MAX_CODES_PER_STEP:
        raise WorkflowError("Too many codes were sent for this step; escalate the case.",
                            reason="too_many_codes")
    case.channel_codes.filter(step=step, used_at__isnull=True,
                              voided_at__isnull=True).update(voided_at=now)
    clear = tokens.new_channel_code()
    code = ChannelCode.objects.create(
        case=case, step=step, channel=channel, code_digest=tokens.digest("channel-code", clear),
        created_at=now, expires_at=now + timedelta(seconds=settings.RECOVERY_CHANNEL_CODE_SECONDS),
    )
    minutes = settings.RECOVERY_CHANNEL_CODE_SECONDS // 60
    notices.owe(
        case=case, secret=True,
        key=f"channel-code:{code.pk}", medium=notices.MEDIUM_FOR_CHANNEL[channel.kind],
        event="recovery_channel_code", identity=case.identity, channel=channel,
        subject="Your service desk verification code",
        body=(f"Your verification code is {clear}. It expires in {minutes} minutes. Read it "
              "only to the service desk agent you are talking to. If you did not ask to "
              "recover your account, do not share it and call the service desk."),
    )
    record("channel_code_sent", target=case, actor=agent, request=request, step=step.pk,
           channel=channel.pk, channel_kind=channel.kind, expires_at=code.expires_at.isoformat())
    return code


@_decision("channel_code_check")
def check_channel_code(case: RecoveryCase, agent: User, step: ScriptStep, code: str, *,
                       request: HttpRequest | None = None) -> Evidence:
    """Check the code the caller reads back. The attempt is counted before
    comparing; a wrong code is failed evidence, five wrong codes kill it."""
    case = _lock(case.pk)
    _enforce(may_work(case, agent, doing="check a code"))
    _require_step(case, step, Kind.CHANNEL_CODE)
    now = clock.now()
    sent = (ChannelCode.objects.select_for_update()
            .filter(case=case, step=step, used_at__isnull=True, voided_at__isnull=True).first())
    if sent is None:
        raise WorkflowError("No code is waiting for this step: send one first.",
                            reason="no_code")
    if sent.expires_at <= now:
        raise WorkflowError("The code has expired: send a new one.", reason="code_expired")
    if sent.attempts >= sent.max_attempts:
        raise WorkflowError("Too many wrong codes: send a new one.", reason="code_exhausted")
    sent.attempts += 1
    sent.save(update_fields=["attempts"])
    if tokens.matches("channel-code", code.strip(), sent.code_digest):
        sent.used_at = now
        sent.save(update_fields=["used_at"])
        evidence = _add_evidence(case, step, agent, Evidence.Result.PASSED, now,
                                 channel=sent.channel, note="The caller read back the code.")
    else:
        left = sent.max_attempts - sent.attempts
        evidence = _add_evidence(case, step, agent, Evidence.Result.FAILED, now,
                                 channel=sent.channel,
                                 note=f"Wrong code read back ({left} tries left).")
    _audit_evidence(evidence, request)
    _verify_if_complete(case, agent, now, request)
    return evidence


@_decision("evidence_record")
def record_evidence(case: RecoveryCase, agent: User, step: ScriptStep, *, passed: bool = True,
                    note: str = "", totp_code: str = "", document_type: str = "",
                    document_last4: str = "",
                    request: HttpRequest | None = None) -> Evidence:
    """Record what an agent checked for a totp, callback, id_document or
    knowledge step. A TOTP code is checked through django-otp, not believed;
    a document keeps only its type and last 4 characters; knowledge counts
    only in the low tier, and never alone."""
    case = _lock(case.pk)
    _enforce(may_work(case, agent, doing="record evidence"))
    _require_step(case, step, *AGENT_RECORDED_KINDS)
    if len(note) > Evidence._meta.get_field("note").max_length:
        raise WorkflowError("The note is too long (500 characters at most).", reason="note_length")
    now = clock.now()
    details, channel = {}, None
    if step.kind == Kind.KNOWLEDGE and case.tier != Tier.LOW:
        raise WorkflowError("Knowledge questions count only for low-risk cases.",
                            reason="knowledge_not_allowed")
    if step.kind == Kind.CALLBACK and not note.strip():
        raise WorkflowError("Say in the note who answered the callback.", reason="note_required")
    if step.kind == Kind.ID_DOCUMENT:
        last4 = document_last4.strip().upper()
        if document_type not in DOCUMENT_TYPES or not (1 <= len(last4) <= 4 and last4.isalnum()):
            raise WorkflowError("Give the document type and its last 4 characters only.",
                                reason="document_details")
        details = {"document_type": document_type, "last4": last4}
    if step.kind == Kind.CALLBACK:
        details = {"number": f"***{case.identity.directory_phone[-4:]}"}
    if step.kind == Kind.TOTP:
        channel, passed = _check_totp(case, totp_code, now)
    result = Evidence.Result.PASSED if passed else Evidence.Result.FAILED
    evidence = _add_evidence(case, step, agent, result, now, channel=channel,
                             note=note.strip(), details=details)
    _audit_evidence(evidence, request)
    _verify_if_complete(case, agent, now, request)
    return evidence


def _check_totp(case: RecoveryCase, code: str, now: datetime) -> tuple[RecoveryChannel, bool]:
    channel = (case.identity.channels.select_related("totp_device")
               .filter(kind=RecoveryChannel.Kind.TOTP, revoked_at__isnull=True,
                       totp_device__isnull=False).first())
    if channel is None or channels.unusable_because(channel, case.rules, now) in (
            channels.REVOKED, channels.STALE):
        raise WorkflowError("This person has no usable authenticator on file; use another step.",
                            reason="no_totp")
    device = channel.totp_device
    allowed, _ = device.verify_is_allowed()
    if not allowed:
        raise WorkflowError("Too many wrong authenticator codes; wait and try again.",
                            reason="totp_throttled")
    return channel, bool(device.verify_token(code.strip()))


def _add_evidence(case, step, actor, result, now, **fields) -> Evidence:
    return Evidence.objects.create(case=case, step=step, actor=actor, result=result,
                                   created_at=now, **fields)


def _audit_evidence(evidence: Evidence, request: HttpRequest | None) -> None:
    record("evidence_recorded", target=evidence.case, actor=evidence.actor, request=request,
           evidence=evidence.pk, step=evidence.step_id, kind=evidence.step.kind,
           result=evidence.result, channel=evidence.channel_id,
           attester=evidence.attester_id)


@_decision("attestation_request")
def request_attestation(case: RecoveryCase, agent: User, step: ScriptStep, *,
                        request: HttpRequest | None = None) -> Attestation:
    """Send the manager, sponsor or owner a link on their own registered
    channel, asking them to confirm or refuse the request."""
    case = _lock(case.pk)
    _enforce(may_work(case, agent, doing="ask for an attestation"))
    _require_step(case, step, Kind.ATTESTATION)
    now = clock.now()
    relation, attester = _relation(case.identity)
    if attester is None or not attester.is_active:
        raise WorkflowError(f"No active {relation} is on file for this person; escalate.",
                            reason="no_attester")
    if attester.pk == case.identity.pk or (
            attester.user_id is not None and attester.user_id == case.identity.user_id):
        raise WorkflowError(f"The {relation} on file is the person being recovered: nobody "
                            "attests for themself. Escalate to a security admin.",
                            reason="self_attestation")
    if attester.user_id is not None and attester.user_id == agent.pk:
        raise WorkflowError("The attester must be someone other than you and the subject.",
                            reason="attester_conflict")
    channel = _first_usable_channel(case, attester, now)
    case.attestations.filter(step=step, answered_at__isnull=True,
                             voided_at__isnull=True).update(voided_at=now)
    token = tokens.new_token()
    attestation = Attestation.objects.create(
        case=case, step=step, attester=attester, relation=relation, channel=channel,
        token_digest=tokens.digest("attestation", token), created_at=now,
        expires_at=now + timedelta(seconds=settings.RECOVERY_ATTESTATION_SECONDS),
    )
    notices.owe(
        case=case,
        secret=True,
        key=f"attestation:{attestation.pk}", medium=notices.MEDIUM_FOR_CHANNEL[channel.kind],
        event="recovery_attestation", identity=attester, channel=channel,
        subject=f"Please confirm a recovery request for {case.identity.display_name}",
        body=(f"As {relation} of {case.identity.display_name}, please confirm or refuse their "
              f"request to recover account access: {_site_link('recovery:attestation', token)}"
              " . If you do not know about this request, refuse it."),
    )
    record("attestation_requested", target=case, actor=agent, request=request, step=step.pk,
           attester=attester.pk, relation=relation, channel=channel.pk)
    return attestation


def _first_usable_channel(case: RecoveryCase, identity: Identity,
                          now: datetime) -> RecoveryChannel:
    for channel in identity.channels.filter(revoked_at__isnull=True,
                                            kind__in=list(notices.MEDIUM_FOR_CHANNEL)):
        try:
            _check_channel(case, channel, now, identity=identity)
        except WorkflowError:
            continue
        return channel
    raise WorkflowError(f"{identity.display_name} has no usable registered channel; escalate.",
                        reason="no_attester_channel")


@_decision("attestation_answer")
def answer_attestation(token: str, confirm: bool, *,
                       request: HttpRequest | None = None) -> Attestation:
    """The attester, holding the link from their own channel, confirms or
    refuses. A refusal fails the case."""
    now = clock.now()
    attestation = (Attestation.objects.select_for_update()
                   .filter(token_digest=tokens.digest("attestation", token)).first())
    if attestation is None:
        raise WorkflowError("This link is not valid.", reason="unknown_link", target=Attestation)
    case = _lock(attestation.case_id)
    if attestation.answered_at is not None:
        raise WorkflowError("This request was already answered.", reason="answered",
                            target=case)
    if attestation.voided_at is not None or attestation.expires_at <= now:
        raise WorkflowError("This link has expired.", reason="expired", target=case)
    if case.state != State.VERIFYING:
        raise WorkflowError("This request is no longer waiting for an answer.", reason="state",
                            target=case)
    attestation.decision = (Attestation.Decision.CONFIRM if confirm
                            else Attestation.Decision.REFUSE)
    attestation.answered_at = now
    attestation.save(update_fields=["decision", "answered_at"])
    evidence = _add_evidence(
        case, attestation.step, attestation.attester.user,
        Evidence.Result.PASSED if confirm else Evidence.Result.FAILED, now,
        attester=attestation.attester, channel=attestation.channel,
        note=f"{attestation.relation.capitalize()} {'confirmed' if confirm else 'refused'} "
             "through the link sent to their registered channel.",
    )
    _audit_evidence(evidence, request)
    if confirm:
        _verify_if_complete(case, None, now, request)
    else:
        _close(case, State.FAILED, now, f"The {attestation.relation} refused the request.")
        record("case_failed", target=case, actor=None, request=request,
               reason="attestation_refused")
        notices.owe_to_monitoring(
            case=case, decision=f"case-failed:{case.pk}", event="recovery_attestation_refused",
            identity=case.identity, subject="Recovery refused by attester",
            body=f"Case {case.pk}: the {attestation.relation} refused the recovery request.",
        )
    return attestation


def _verify_if_complete(case: RecoveryCase, actor: User | None, now: datetime,
                        request: HttpRequest | None) -> None:
    """verifying -> verified once every required step passed (and something
    stronger than knowledge did); straight on to approved when the policy
    needs no supervisor."""
    if case.state != State.VERIFYING:
        return
    passed = _passed_step_ids(case)
    steps = list(case.script.steps.all())
    if any(s.required and s.pk not in passed for s in steps):
        return
    if not any(s.pk in passed and s.kind != Kind.KNOWLEDGE for s in steps):
        return
    _move(case, State.VERIFIED, now, verified_at=now)
    record("case_verified", target=case, actor=actor, request=request)
    if case.rules.approvals_required == 0:
        _move(case, State.APPROVED, now, approved_at=now)
        record("case_approved", target=case, actor=actor, request=request, by="policy",
               tier=case.tier)


@_decision("case_verify")
def mark_verified(case: RecoveryCase, agent: User, *,
                  request: HttpRequest | None = None) -> RecoveryCase:
    """Mark a case verified; refused unless every required step passed.
    (Recording the last passing evidence does this by itself.)"""
    case = _lock(case.pk)
    _require_holder(case, agent)
    _require_state(case, State.VERIFYING, doing="mark the case verified")
    _verify_if_complete(case, agent, clock.now(), request)
    if case.state == State.VERIFYING:
        raise WorkflowError("Some required steps have not passed yet.", reason="steps_missing")
    return case


@_decision("case_fail")
def fail(case: RecoveryCase, actor: User, reason: str, *,
         request: HttpRequest | None = None) -> RecoveryCase:
    """The holding agent ends verification as failed (the caller could not
    prove it), with a reason; a supervisor may too, on a case escalated to
    them. Outstanding codes and links are voided; security monitoring is told."""
    case = _lock(case.pk)
    _enforce(may_fail(case, actor))
    _require_reason(reason, limit=500)
    now = clock.now()
    _close(case, State.FAILED, now, reason.strip())
    record("case_failed", target=case, actor=actor, request=request, reason=reason.strip())
    notices.owe_to_monitoring(
        case=case, decision=f"case-failed:{case.pk}", event="recovery_failed",
        identity=case.identity, subject="Recovery verification failed",
        body=f"Case {case.pk} ({case.tier}): verification failed: {reason.strip()}")
    return case


_STRICTER = {Tier.LOW: Tier.HIGH, Tier.MEDIUM: Tier.HIGH, Tier.HIGH: Tier.RESTRICTED,
             Tier.RESTRICTED: Tier.RESTRICTED}


@_decision("case_escalate")
def escalate(case: RecoveryCase, agent: User, reason: str, *,
             request: HttpRequest | None = None) -> RecoveryCase:
    """The holding agent cannot verify the caller under the case's tier (every
    channel stale or revoked, a step the caller cannot pass) and escalates,
    with a reason. The case moves to a stricter tier, always one a supervisor
    approves (low and medium go to high, high to restricted), whose policy and
    script (with the population rules) are frozen on it again, so the agent
    goes on with the stricter script; codes and links already out are voided.
    It is marked escalated: supervisors see it, with the reason, on their
    approvals page, may fail or cancel it, and approve or deny it once it is
    verified. Security monitoring is told. A restricted case is only marked."""
    case = _lock(case.pk)
    _enforce(may_escalate(case, agent))
    _require_reason(reason, limit=500)
    now = clock.now()
    before = case.tier
    applied = populations.rules_for(case.identity)
    tier = max(_STRICTER[Tier(case.tier)], applied.minimum_tier, key=Tier.rank)
    policy = RecoveryPolicy.objects.select_related("script").get(tier=tier)
    _void_live_secrets(case, now, "case_escalated", actor=agent, request=request)
    _move(case, case.state, now, tier=tier, policy=policy,
          policy_snapshot=populations.snapshot_for(applied, policy),
          script=populations.script_for(applied, policy),
          tier_reasons=[*case.tier_reasons, f"Escalated by {agent.username}: {reason.strip()}"],
          escalated_at=now, escalated_by=agent, escalation_reason=reason.strip())
    record("case_escalated", target=case, actor=agent, request=request, reason=reason.strip(),
           from_tier=before, to_tier=tier, script=case.script_id)
    notices.owe_to_monitoring(
        case=case, decision=f"case-escalated:{case.pk}:{tier}", event="recovery_escalated",
        identity=case.identity, subject="Recovery case escalated",
        body=f"Case {case.pk}: escalated from {before} to {tier}: {reason.strip()}")
    return case


# --- approval ---------------------------------------------------------------

@_decision("approval_request")
def request_approval(case: RecoveryCase, agent: User, *,
                     request: HttpRequest | None = None) -> RecoveryCase:
    """The holding agent sends a verified high-risk case to supervisors."""
    case = _lock(case.pk)
    _enforce(may_request_approval(case, agent))
    _move(case, State.AWAITING_APPROVAL, clock.now())
    record("approval_requested", target=case, actor=agent, request=request,
           approvals_required=case.rules.approvals_required)
    return case


def _require_reason(reason: str, limit: int = 1000) -> None:
    if not reason or not reason.strip():
        raise WorkflowError("Give a reason.", reason="reason_required")
    if len(reason) > limit:
        raise WorkflowError(f"The reason is too long ({limit} characters at most).",
                            reason="reason_length")


def _require_eligible_approver(case: RecoveryCase, approver: User, step_up: dict | None,
                               reason: str, now: datetime) -> None:
    _enforce(may_decide(case, approver))
    _require_reason(reason)
    _require_fresh_step_up(step_up, now)


def _require_fresh_step_up(step_up: dict | None, now: datetime) -> None:
    try:
        at = datetime.fromisoformat(step_up["at"])
        device = str(step_up["device"] or "")
    except (TypeError, KeyError, ValueError):
        at, device = None, ""
    max_age = timedelta(seconds=settings.STEP_UP_MAX_AGE_SECONDS)
    if at is None or not device or not timedelta(0) <= now - at <= max_age:
        raise WorkflowError("Confirm it's you with your passkey or authenticator, then decide.",
                            reason="step_up")


def _has_worked(case: RecoveryCase, user: User) -> bool:
    from auditlog.models import LogEntry

    return case.evidence.filter(actor=user).exists() or LogEntry.objects.filter(
        object_pk=str(case.pk), actor=user, additional_data__event="case_claimed",
        content_type__app_label="recovery", content_type__model="recoverycase",
    ).exists()


@_decision("approval")
def approve(case: RecoveryCase, approver: User, reason: str, *, step_up: dict | None,
            request: HttpRequest | None = None) -> Approval:
    """A supervisor who stepped up approves; the case is approved once the
    policy's number of distinct supervisors did. Never the case's agent, its
    opener, anyone who worked it, or its subject; never twice."""
    case = _lock(case.pk)
    now = clock.now()
    _require_eligible_approver(case, approver, step_up, reason, now)
    approval = Approval.objects.create(
        case=case, approver=approver, decision=Approval.Decision.APPROVE, reason=reason.strip(),
        step_up_device=step_up["device"], step_up_at=datetime.fromisoformat(step_up["at"]),
        created_at=now,
    )
    given = case.approvals.filter(decision=Approval.Decision.APPROVE).count()
    required = case.rules.approvals_required
    record("approval_given", target=case, actor=approver, request=request,
           approval=approval.pk, given=given, required=required,
           step_up_device=approval.step_up_device, step_up_at=step_up["at"])
    if given >= required:
        _move(case, State.APPROVED, now, approved_at=now)
        record("case_approved", target=case, actor=approver, request=request, by="supervisors",
               approvers=list(case.approvals.values_list("approver_id", flat=True)))
        notices.owe_to_monitoring(
            case=case, decision=f"case-approved:{case.pk}", event="recovery_approved",
            identity=case.identity, subject="High-risk recovery approved",
            body=f"Case {case.pk} ({case.tier}) approved by {given} supervisor(s).")
    return approval


@_decision("denial")
def deny(case: RecoveryCase, approver: User, reason: str, *, step_up: dict | None,
         request: HttpRequest | None = None) -> Approval:
    """A supervisor who stepped up refuses the reset; the case is closed as
    denied and the subject is told on every channel."""
    case = _lock(case.pk)
    now = clock.now()
    _require_eligible_approver(case, approver, step_up, reason, now)
    approval = Approval.objects.create(
        case=case, approver=approver, decision=Approval.Decision.DENY, reason=reason.strip(),
        step_up_device=step_up["device"], step_up_at=datetime.fromisoformat(step_up["at"]),
        created_at=now,
    )
    _close(case, State.DENIED, now, reason.strip())
    record("case_denied", target=case, actor=approver, request=request, approval=approval.pk,
           step_up_device=approval.step_up_device, step_up_at=step_up["at"])
    _owe_closing_notices(case, "denied", "Your account recovery request was refused",
                         "A supervisor refused the request to recover access to your account. "
                         "If you made it, call the service desk.")
    return approval


# --- the recovery credential ------------------------------------------------

@_decision("credential_issue")
def issue_credential(case: RecoveryCase, agent: User, *, channel: RecoveryChannel | None = None,
                     key: str | None = None, replaces: int | None = None,
                     request: HttpRequest | None = None) -> IssuedCredential:
    """Issue the recovery credential of an approved case: sent to a registered
    channel, or (no channel) shown once for the agent to read out. Voids the
    previous one; every channel is told a credential was issued.

    ``key`` is the issue form's one-time key, stored on the credential
    (unique per case): the same form posted again (a double click, a resent
    POST) issues and voids nothing and returns the credential it issued the
    first time, without its code (``replayed``). ``replaces`` is the live
    credential the page showed (0: none): if another is live now, nothing is
    issued, so a page left open elsewhere never voids a credential just read
    out. The holding agent only."""
    case = _lock(case.pk)
    _enforce(may_issue(case, agent))
    if key:
        earlier = case.credentials.filter(issue_key=key).first()
        if earlier is not None:
            return IssuedCredential(credential=earlier, code="", replayed=True,
                                    link=_site_link("recovery:redeem", earlier.handle))
    live = case.credentials.filter(used_at__isnull=True, voided_at__isnull=True).first()
    if replaces is not None and replaces != (live.pk if live else 0):
        raise WorkflowError(
            "A recovery credential was issued on this case since you opened the page; nothing "
            "was issued now. Look at the case again before issuing another.",
            reason="stale_form", live=live.pk if live else None)
    now = clock.now()
    if channel is not None:
        _check_channel(case, channel, now)
    for previous in case.credentials.filter(used_at__isnull=True, voided_at__isnull=True):
        previous.voided_at = now
        previous.save(update_fields=["voided_at"])
    rules = case.rules
    code, handle = tokens.new_credential_code(), tokens.new_handle()
    lifetime = min(rules.credential_lifetime, timedelta(hours=24))
    credential = RecoveryCredential.objects.create(
        case=case, identity=case.identity, handle=handle,
        reference=None if channel else _unused_reference(),
        code_digest=tokens.digest("recovery-credential", code), issued_by=agent,
        delivery=(RecoveryCredential.Delivery.CHANNEL if channel
                  else RecoveryCredential.Delivery.READ_OUT),
        channel=channel, created_at=now, expires_at=now + lifetime,
        channel_fingerprint=tokens.channel_fingerprint(
            channel.kind, channel.address, channel.totp_device_id) if channel else "",
        max_attempts=rules.max_redemption_attempts, issue_key=key or "",
    )
    link = _site_link("recovery:redeem", handle)
    if channel is not None:
        notices.owe(
            case=case,
            secret=True,
            key=f"credential:{credential.pk}", medium=notices.MEDIUM_FOR_CHANNEL[channel.kind],
            event="recovery_credential", identity=case.identity, channel=channel,
            subject="Your account recovery link",
            body=(f"Open {link} and enter the code {code} to enrol a new passkey. It works once, "
                  f"for {int(lifetime.total_seconds() // 60)} minutes."),
        )
    notices.owe_to_identity(
        case.identity, case=case, decision=f"credential-issued:{credential.pk}",
        event="recovery_credential_issued", subject="A recovery credential was issued",
        body=("The service desk issued a credential to recover your account. If you did not "
              "ask for this, call the service desk now."),
    )
    _move(case, State.CREDENTIAL_ISSUED, now)
    schedule.expire_case_at(case.pk, credential.expires_at)
    record("credential_issued", target=case, actor=agent, request=request,
           credential=credential.pk, delivery=credential.delivery,
           channel=channel.pk if channel else None, expires_at=credential.expires_at.isoformat())
    return IssuedCredential(credential=credential, code=code, link=link)


def _unused_reference() -> str:
    while True:
        reference = tokens.new_reference()
        if not RecoveryCredential.objects.filter(reference=reference).exists():
            return reference


def redeem(handle: str, code: str, *, request: HttpRequest | None = None) -> OpenedSession:
    """Redeem a recovery credential (anyone holding its link and code).

    The attempt is counted and committed before the code is compared; the
    credential is then consumed by a conditional UPDATE so exactly one of
    two concurrent redemptions wins, and only while the facts it rests on
    still hold (``_basis_refusal``: a broken one is voided on the spot).
    Opens a short recovery session whose only power is enrolling a passkey."""
    return _redeem(Q(handle=handle), code, request)


def redeem_read_out(reference: str, code: str, *,
                    request: HttpRequest | None = None) -> OpenedSession:
    """Redeem a credential the agent read out on the phone: the person types
    its short reference and the code at one fixed address. Same code, lifetime,
    attempt limit and single use as a link."""
    reference = tokens.normalise_reference(reference)
    return _redeem(Q(reference=reference, delivery=RecoveryCredential.Delivery.READ_OUT)
                   if reference else Q(pk__in=[]), code, request)


def _redeem(lookup: Q, code: str, request: HttpRequest | None) -> OpenedSession:
    now = clock.now()
    credential = _count_redemption(lookup, now, request=request)
    try:
        return _consume_credential(credential, code, now, request=request)
    except WorkflowError as refusal:
        if refusal.reason in BASIS_CAUSES:
            void_basis(credential.identity, refusal.reason, channel=credential.channel,
                       request=request)
        raise


@_decision("credential_redeem")
def _count_redemption(lookup: Q, now: datetime, *,
                      request: HttpRequest | None = None) -> RecoveryCredential:
    credential = RecoveryCredential.objects.filter(lookup).first()
    if credential is None:
        raise WorkflowError(REDEEM_REFUSED, reason="unknown", target=RecoveryCredential)
    counted = RecoveryCredential.objects.filter(
        pk=credential.pk, used_at__isnull=True, voided_at__isnull=True, expires_at__gt=now,
        attempts__lt=F("max_attempts"),
    ).filter(expires_at__gt=Now()).update(attempts=F("attempts") + 1)
    if not counted:
        credential.refresh_from_db()
        why = ("used" if credential.used_at else "voided" if credential.voided_at
               else "expired" if credential.expires_at <= now else "too_many_attempts")
        raise WorkflowError(REDEEM_REFUSED, reason=why, target=credential.case,
                            credential=credential.pk)
    credential.attempts += 1  # for the "tries left" message; the limit held in SQL
    return credential


@_decision("credential_redeem")
def _consume_credential(credential: RecoveryCredential, code: str, now: datetime, *,
                        request: HttpRequest | None = None) -> OpenedSession:
    if not tokens.matches("recovery-credential", tokens.normalise_credential_code(code),
                          credential.code_digest):
        left = credential.max_attempts - credential.attempts
        raise WorkflowError(
            f"The code does not match. {left} {'try' if left == 1 else 'tries'} left.",
            reason="wrong_code", target=credential.case, credential=credential.pk,
        )
    case = _lock(credential.case_id)
    # The deadline holds by the application's clock and the database's alike.
    won = RecoveryCredential.objects.filter(
        pk=credential.pk, used_at__isnull=True, voided_at__isnull=True, expires_at__gt=now,
    ).filter(expires_at__gt=Now()).update(used_at=now)
    if not won:
        raise WorkflowError(REDEEM_REFUSED, reason="used", target=case, credential=credential.pk)
    broken = _basis_refusal(case, credential, now)
    if broken:
        raise WorkflowError(REDEEM_REFUSED, reason=broken, target=case, credential=credential.pk)
    token = tokens.new_token()
    session = RecoverySession.objects.create(
        case=case, identity=case.identity, credential=credential,
        token_digest=tokens.digest("recovery-session", token), created_at=now,
        expires_at=now + timedelta(seconds=settings.RECOVERY_SESSION_SECONDS),
    )
    schedule.expire_case_at(case.pk, session.expires_at)
    record("credential_redeemed", target=case, actor=None, request=request,
           credential=credential.pk, session=session.pk)
    _alert_if_new_network(case, request)
    notices.owe_to_monitoring(
        case=case,
        decision=f"credential-redeemed:{credential.pk}", event="recovery_credential_redeemed",
        identity=case.identity, subject="Recovery credential redeemed",
        body=f"Case {case.pk}: the recovery credential was redeemed.",
    )
    return OpenedSession(session=session, token=token)


def recovery_session_for(token: str | None) -> RecoverySession | None:
    """The live recovery session a browser holds, if any, and only while the
    facts its credential rested on hold (a broken one is voided now)."""
    if not token:
        return None
    now = clock.now()
    session = (RecoverySession.objects
               .select_related("case__identity", "identity__user", "credential__channel")
               .filter(token_digest=tokens.digest("recovery-session", token),
                       used_at__isnull=True, expires_at__gt=now)
               .filter(expires_at__gt=Now()).first())
    if session is None:
        return None
    broken = _basis_refusal(session.case, session.credential, now)
    if broken in BASIS_CAUSES:
        void_basis(session.identity, broken, channel=session.credential.channel)
    return None if broken else session


@_decision("case_complete")
def complete(recovery_session: RecoverySession, passkey: PasskeyCredential, *,
             request: HttpRequest | None = None) -> RecoveryCase:
    """Enrolling a passkey in a live recovery session completes the case:
    old passkeys are revoked (per policy), every other session of the person
    ends, and the subject, their manager/sponsor/owner and monitoring are told."""
    now = clock.now()
    session = (RecoverySession.objects.select_for_update(of=("self",))
               .select_related("credential").get(pk=recovery_session.pk))
    case = _lock(session.case_id)
    if session.used_at is not None or session.expires_at <= now:
        raise WorkflowError("This recovery session has ended. Ask the service desk for a new "
                            "recovery credential.", reason="session_ended", target=case)
    user = case.identity.user
    if user is None or passkey.user_id != user.pk:
        raise WorkflowError("The passkey does not belong to the account being recovered.",
                            reason="foreign_passkey", target=case)
    _require_state(case, State.CREDENTIAL_ISSUED, doing="complete the recovery")
    broken = _basis_refusal(case, session.credential, now)
    if broken:
        raise WorkflowError("This recovery can no longer be completed. Ask the service desk "
                            "for help.", reason=broken, target=case)
    session.used_at = now
    session.save(update_fields=["used_at"])
    revoked = []
    if case.rules.revoke_old_passkeys:
        for old in PasskeyCredential.objects.filter(user=user, revoked_at__isnull=True).exclude(
                pk=passkey.pk):
            old.revoked_at, old.confirmed = now, False
            old.save(update_fields=["revoked_at", "confirmed"])
            revoked.append(old.pk)
    ended = _end_sessions(user)
    _close(case, State.COMPLETED, now, "", watch_until=now + case.rules.watch_period)
    record("case_completed", target=case, actor=None, request=request, passkey=passkey.pk,
           revoked_passkeys=revoked, sessions_ended=ended)
    not_me = tokens.new_token()
    Repudiation.objects.create(case=case, passkey=passkey, created_at=now,
                               token_digest=tokens.digest("repudiation", not_me),
                               expires_at=now + max(case.rules.watch_period, timedelta(days=7)))
    _owe_closing_notices(
        case, "completed", "Your account access was recovered",
        "Access to your account was recovered and a new passkey was enrolled"
        + (f"; {len(revoked)} older passkey(s) no longer work" if revoked else "")
        + ". If this was not you, call the service desk immediately.",
        subject_only=f"\nThis wasn't me: {_site_link('recovery:repudiate', not_me)}",
    )
    return case


def complete_enrolment(recovery_session: RecoverySession,
                       enrol: Callable[[User], PasskeyCredential], *,
                       request: HttpRequest | None = None) -> RecoveryCase:
    """Enrol a passkey (``enrol`` runs the WebAuthn ceremony for the user) and
    complete the case with it, all or nothing: a refused completion leaves no
    passkey behind. The refusal, of either part, is audited after rollback."""
    from accounts.webauthn import PasskeyError

    try:
        with transaction.atomic():
            passkey = enrol(recovery_session.identity.user)
            return complete(recovery_session, passkey, request=request)
    except (WorkflowError, PasskeyError) as refusal:
        reason = refusal.reason if isinstance(refusal, WorkflowError) \
            else f"passkey_{refusal.reason}"
        record("case_complete_refused", target=recovery_session.case, actor=None,
               request=request, reason=reason, message=refusal.message)
        if reason in BASIS_CAUSES:
            void_basis(recovery_session.identity, reason,
                       channel=recovery_session.credential.channel, request=request)
        raise


def _end_sessions(user: User) -> str:
    """End every session ``user`` signed in before now (checked by
    accounts.middleware on their next request): one UPDATE, whatever the
    number of sessions. The recovering browser is not signed in as the user,
    so it keeps its recovery session."""
    User.objects.filter(pk=user.pk).update(sessions_valid_after=clock.now())
    return "all before now"


def _close(case: RecoveryCase, state: str, now: datetime, reason: str, *,
           cause: str = "", actor: User | None = None, request: HttpRequest | None = None,
           **fields) -> bool:
    """Close ``case``; its live secrets die with it. True when a recovery
    credential or session was still live."""
    voided = _void_live_secrets(case, now, cause or f"case_{state}", actor=actor,
                                request=request)
    _move(case, state, now, closed_at=now, closing_reason=reason[:500], **fields)
    return voided


def _owe_closing_notices(case: RecoveryCase, outcome: str, subject: str, body: str,
                         subject_only: str = "") -> None:
    """Tell the subject on every channel (``subject_only`` is added for them
    alone), their manager, sponsor or owner, and security monitoring."""
    decision = f"case-{outcome}:{case.pk}"
    notices.owe_to_identity(case.identity, case=case,
                            decision=decision, event=f"recovery_{outcome}",
                            subject=subject, body=body + subject_only)
    relation, other = _relation(case.identity)
    if other is not None:
        what, told = _relation_notice(case, outcome, relation, other)
        notices.owe_to_identity(
            other, case=case, decision=f"{decision}:{relation}", event=f"recovery_{outcome}",
            subject=f"{case.identity.display_name}, whose {relation} you are: {what}",
            body=told,
        )
    notices.owe_to_monitoring(case=case, decision=decision, event=f"recovery_{outcome}",
                              identity=case.identity, subject=f"Recovery case {outcome}",
                              body=f"Case {case.pk} ({case.tier}) {outcome}.")


def _relation_notice(case: RecoveryCase, outcome: str, relation: str,
                     other: Identity) -> tuple[str, str]:
    """The manager's, sponsor's or owner's own notice (subject, body): about
    someone else's account, saying what it means for them and what to do."""
    name = case.identity.display_name
    attested = case.attestations.filter(attester=other,
                                        decision=Attestation.Decision.CONFIRM).exists()
    vouched = " You confirmed the request through the link sent to you." if attested else ""
    if outcome == "completed":
        return "access recovered", (
            f"You are told as {relation} of {name}. The service desk restored access to "
            f"{name}'s account (case {case.pk}) after checking their identity, and a new "
            f"passkey was enrolled.{vouched} You need do nothing. If you did not expect this, "
            f"or think {name} did not ask for it, call the service desk now.")
    if outcome == "denied":
        return "recovery refused", (
            f"You are told as {relation} of {name}. A supervisor refused a request to recover "
            f"access to {name}'s account (case {case.pk}); nothing was reset.{vouched} If you "
            f"think someone tried to pass as {name}, tell the service desk.")
    if outcome == "rotated":
        reference = case.rotation.reference
        return "credential rotated", (
            f"You are the {relation} of the shared service account {name}. Its credential was "
            f"rotated (reference {reference}) at the end of governance case {case.pk}.{vouched} "
            "Make sure whatever uses the account has the new credential. If you did not expect "
            "this, call the service desk now.")
    return f"recovery case {outcome}", (
        f"You are told as {relation} of {name}: the service desk's recovery case {case.pk} "
        f"about their account is now {outcome}. If anything about it surprises you, call the "
        "service desk.")


# --- ending a case early ----------------------------------------------------

@_decision("case_expire")
def expire(case: RecoveryCase, *, actor: User | None = None,
           request: HttpRequest | None = None) -> RecoveryCase:
    """Close an open case whose deadline passed (the sweep calls this);
    its credentials, codes, links and sessions die with it."""
    case = _lock(case.pk)
    now = clock.now()
    _require_state(case, *RecoveryCase.OPEN_STATES, doing="expire a case")
    if case.deadline > now:
        raise WorkflowError("This case has not reached its deadline.", reason="not_due")
    voided = _close(case, State.EXPIRED, now, "Deadline passed.", actor=actor, request=request)
    record("case_expired", target=case, actor=actor, request=request,
           deadline=case.deadline.isoformat())
    if voided:
        _tell_credential_voided(case, "case_expired")
    return case


SWEEP_BATCH = 2000


def expire_due(*, case_ids: list[int] | None = None, now: datetime | None = None,
               workers: int = 1) -> int:
    """Expire, in bulk, every open case past its deadline and every case whose
    recovery credential ran out unredeemed or whose recovery session ended
    without a new passkey; their live codes, links, credentials and sessions
    die with them. Bulk updates bypass django-auditlog's signals, so the sweep
    writes one audit entry per case itself.

    Run by beat every minute, and by the task scheduled at each credential's
    and recovery session's deadline (``case_ids``). Use is checked against the
    deadlines anyway: a late or lost sweep never lets anything work longer.

    The due cases are listed once, by id, then expired SWEEP_BATCH at a time:
    each batch locks its cases (SKIP LOCKED: one a person is acting on right
    now waits for the next sweep) and checks again that they are still due.
    Asking the database for "the next due batch" instead would rescan every
    case already expired in this sweep: their old index entries stay until
    the table is vacuumed. ``workers`` threads, each with its own database
    connection, take batches from the list: a mass expiry keeps the database
    and the hashing of the audit chain busy on more than one core."""
    now = now or clock.now()
    live_credential = RecoveryCredential.objects.filter(
        case=OuterRef("pk"), used_at__isnull=True, voided_at__isnull=True, expires_at__gt=now)
    live_session = RecoverySession.objects.filter(
        case=OuterRef("pk"), used_at__isnull=True, expires_at__gt=now)
    due = RecoveryCase.objects.filter(
        Q(state__in=RecoveryCase.OPEN_STATES, deadline__lte=now)
        | (Q(state=State.CREDENTIAL_ISSUED) & ~Exists(live_credential) & ~Exists(live_session))
    )
    if case_ids is not None:
        due = due.filter(pk__in=case_ids)
    ids = list(due.order_by("pk").values_list("pk", flat=True))
    batches = SimpleQueue()
    for start in range(0, len(ids), SWEEP_BATCH):
        batches.put(ids[start:start + SWEEP_BATCH])
    connection = connections[due.db]
    # Threads only outside a transaction (theirs could not see its rows), and
    # not on SQLite (one writer at a time).
    workers = min(workers, batches.qsize())  # no thread without a batch
    if workers > 1 and not connection.in_atomic_block and connection.vendor != "sqlite":
        with ThreadPoolExecutor(workers, thread_name_prefix="expiry-sweep") as pool:
            return sum(pool.map(_sweep_in_thread, [due] * workers, [batches] * workers,
                                [now] * workers))
    return _sweep(due, batches, now)


def _sweep_in_thread(due: QuerySet[RecoveryCase], batches: SimpleQueue, now: datetime) -> int:
    try:
        return _sweep(due, batches, now)
    finally:
        connections.close_all()  # this thread's own connection


def _sweep(due: QuerySet[RecoveryCase], batches: SimpleQueue, now: datetime) -> int:
    total = 0
    while True:
        try:
            ids = batches.get_nowait()
        except Empty:
            return total
        with transaction.atomic():
            batch = list(due.filter(pk__any_of=ids).order_by().select_for_update(skip_locked=True)
                         .values_list("pk", "deadline"))
            if batch:
                _expire_batch(batch, now)
        total += len(batch)


def _expire_batch(batch: list[tuple[int, datetime]], now: datetime) -> None:
    ids = [pk for pk, _ in batch]
    RecoveryCase.objects.filter(pk__any_of=ids).update(
        state=State.EXPIRED, closed_at=now, updated_at=now,
        closing_reason="Deadline passed, or the recovery credential ran out unused.")
    ChannelCode.objects.filter(case_id__any_of=ids, used_at__isnull=True,
                               voided_at__isnull=True).update(voided_at=now)
    Attestation.objects.filter(case_id__any_of=ids, answered_at__isnull=True,
                               voided_at__isnull=True).update(voided_at=now)
    RecoveryCredential.objects.filter(case_id__any_of=ids, used_at__isnull=True,
                                      voided_at__isnull=True).update(voided_at=now)
    RecoverySession.objects.filter(case_id__any_of=ids, used_at__isnull=True,
                                   expires_at__gt=now).update(expires_at=now)
    record_many("case_expired", RecoveryCase, [
        (pk, {"by": "sweep", "reason": "deadline" if deadline <= now else "credential_ran_out",
              "deadline": deadline.isoformat()})
        for pk, deadline in batch
    ])


@_decision("case_cancel")
def cancel(case: RecoveryCase, actor: User, reason: str, *,
           request: HttpRequest | None = None) -> RecoveryCase:
    """The holding agent, or a supervisor, cancels an open case (a duplicate,
    the person found their key). Outstanding secrets are voided."""
    case = _lock(case.pk)
    _enforce(may_cancel(case, actor))
    _require_reason(reason, limit=500)
    now = clock.now()
    voided = _close(case, State.CANCELLED, now, reason.strip(), actor=actor, request=request)
    record("case_cancelled", target=case, actor=actor, request=request, reason=reason.strip())
    if voided:
        _tell_credential_voided(case, "case_cancelled")
    return case



# --- after a recovery ---------------------------------------------------------

def _network(address: str | None) -> str | None:
    if not address:
        return None
    ip = ipaddress.ip_address(address)
    return str(ipaddress.ip_network(f"{address}/{24 if ip.version == 4 else 64}", strict=False))


def _alert_if_new_network(case: RecoveryCase, request: HttpRequest | None) -> None:
    """Inside a watch period, a redemption from a network the earlier
    recovery was not redeemed from is worth a security admin's look."""
    watched = alerts.under_watch(case.identity)
    here = _network(client_address(request))
    if watched is None or here is None:
        return
    before = {_network(a) for a in LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(RecoveryCase),
        object_pk=str(watched.pk), additional_data__event="credential_redeemed",
    ).values_list("remote_addr", flat=True)}
    if here not in before:
        alerts.raise_alert(case.identity, Alert.Kind.NEW_NETWORK,
                           f"Case {case.pk}: recovery credential redeemed from {here}, a network "
                           f"the recovery of case {watched.pk} did not use.",
                           case=watched, request=request)


@_decision("case_repudiate")
def repudiate(token: str, *, request: HttpRequest | None = None) -> RecoveryCase:
    """The person says a completed recovery wasn't them (the link sent to
    every channel they had). Freezes the passkey it enrolled, ends every
    session of the account, raises an alert and opens a high-priority case
    (or marks the open one so). Anyone holding the link may: it only ever
    takes access away."""
    now = clock.now()
    repudiation = (Repudiation.objects.select_for_update()
                   .filter(token_digest=tokens.digest("repudiation", token)).first())
    if repudiation is None:
        raise WorkflowError("This link is not valid.", reason="unknown_link", target=Repudiation)
    case = repudiation.case
    if repudiation.used_at is not None:
        raise WorkflowError("This link was already used: the service desk is on it.",
                            reason="used", target=case)
    if repudiation.expires_at <= now:
        raise WorkflowError("This link has expired. Call the service desk.", reason="expired",
                            target=case)
    identity = case.identity
    PasskeyCredential.objects.filter(pk=repudiation.passkey_id, revoked_at__isnull=True).update(
        revoked_at=now, confirmed=False)
    ended = _end_sessions(identity.user) if identity.user else "none"
    # A recovery already handed out rests on nobody having said "not me".
    _void_basis(identity.pk, "repudiated", now, request=request)
    follow_up = (RecoveryCase.objects.select_for_update()
                 .filter(identity=identity, state__in=RecoveryCase.OPEN_STATES).first())
    if follow_up is None:
        follow_up = open_case(identity, source=RecoveryCase.Source.REPUDIATION, request=request)
    else:
        follow_up.high_priority = True
        follow_up.save(update_fields=["high_priority"])
    repudiation.used_at, repudiation.follow_up = now, follow_up
    repudiation.save(update_fields=["used_at", "follow_up"])
    record("case_repudiated", target=case, actor=None, request=request,
           passkey=repudiation.passkey_id, sessions_ended=ended, follow_up=follow_up.pk)
    alerts.raise_alert(identity, Alert.Kind.REPUDIATED,
                       f"The recovery of case {case.pk} was repudiated; its passkey is frozen "
                       f"and case {follow_up.pk} is high priority.", case=case, request=request)
    return follow_up



@_decision("rotation_record")
def record_rotation(case: RecoveryCase, agent: User, reference: str, note: str = "", *,
                    request: HttpRequest | None = None) -> CredentialRotation:
    """How a service account's governance case ends: the agent holding it
    records that the account's credential was rotated (after the owner's
    attestation and a security admin's approval). Completes the case and
    tells the owner and security monitoring."""
    case = _lock(case.pk)
    _enforce(may_rotate(case, agent))
    reference, note = reference.strip(), note.strip()
    if not reference or len(reference) > 100 or len(note) > 500:
        raise WorkflowError("Give the change ticket or vault reference (at most 100 characters)"
                            " and a note of at most 500.", reason="bad_reference")
    now = clock.now()
    rotation = CredentialRotation.objects.create(case=case, performed_by=agent,
                                                 reference=reference, note=note, rotated_at=now)
    _close(case, State.COMPLETED, now, "", watch_until=now + case.rules.watch_period)
    record("rotation_recorded", target=case, actor=agent, request=request,
           rotation=rotation.pk, reference=reference)
    _owe_closing_notices(case, "rotated", "A service account credential was rotated",
                         f"The credential of {case.identity.display_name} was rotated "
                         f"(reference {reference}) after a governance case.")
    return rotation
