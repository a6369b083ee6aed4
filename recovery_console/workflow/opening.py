"""Opening a case and taking it: an end user's self-service request (recorded,
resolved by a worker), ``open_case`` (the tier and policy frozen on the
case), and an agent's ``claim`` and ``unclaim``.
"""

from __future__ import annotations

from datetime import timedelta

from auditlog import context as auditlog_context
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from guardian.shortcuts import assign_perm, remove_perm

from accounts.identifiers import canonical, identities_named
from accounts.models import Identity, User
from accounts.roles import Role
from audit.events import client_address, record

from .. import alerts, clock, notices, populations, self_service, tokens
from ..models import Alert, RecoveryCase, RecoveryPolicy, SelfServiceRequest, Tier
from ..risk import assess, window_words
from . import velocity
from .base import WorkflowError, _decision, _lock, _move
from .routing import route, watch_privileged_spike
from .rules import WORK_PERMISSION, _enforce, _require_role, may_claim, may_unclaim

State = RecoveryCase.State


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


def open_case(identity: Identity, *, source: str, actor: User | None = None,
              request: HttpRequest | None = None) -> RecoveryCase:
    """Open a case for ``identity``, freezing its risk tier and policy.

    Desk cases are opened by an agent; self-service cases by nobody signed in,
    and only when the tier's policy allows self-service; repudiation cases by
    the "this wasn't me" link, high priority and at least the high tier.
    The case goes to the queue of the first help-desk team that serves it
    (``routing.route``; none: the console's own desk). A request inside a
    previous recovery's watch period raises an alert, and so does a spike of
    privileged people's cases for one team (``routing.watch_privileged_spike``).
    A second recovery within the policies' ``repeat_window`` raises the tier
    and alerts; the ``refuse_from``-th is refused (``velocity_identity``)
    unless a security admin allowed one more, and routed to security by an
    alert that outlives the refusal's rollback."""
    try:
        return _open_case(identity, source=source, actor=actor, request=request)
    except WorkflowError as refusal:
        if refusal.reason == "velocity_identity":
            velocity.route_to_security(identity, refusal, request=request)
        raise


@_decision("case_open", actor="actor")
def _open_case(identity: Identity, *, source: str, actor: User | None = None,
               request: HttpRequest | None = None) -> RecoveryCase:
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
    limits = velocity.identity_velocity()
    earlier = RecoveryCase.objects.filter(identity=identity,
                                          opened_at__gte=now - limits.window).count()
    over_limit = (source != RecoveryCase.Source.REPUDIATION
                  and earlier + 1 >= limits.refuse_from)
    if over_limit and velocity.live_allowance(identity, now) is None:
        raise WorkflowError(
            f"This would be recovery number {earlier + 1} for this person within "
            f"{window_words(limits.window)}: the help desk cannot open it. Security has been "
            "told; a security admin must allow one more recovery first.",
            reason="velocity_identity", target=identity, number=earlier + 1,
            window_seconds=limits.window.total_seconds())
    assessment = assess(identity, now, limits.window)
    tier, reasons = assessment.tier, list(assessment.reasons)
    repudiated = source == RecoveryCase.Source.REPUDIATION
    if repudiated and tier in (Tier.LOW, Tier.MEDIUM):
        tier = Tier.HIGH
        reasons.append("The person said the last recovery wasn't them: at least high.")
    applied = populations.rules_for(identity)
    if Tier.rank(applied.minimum_tier) > Tier.rank(tier):
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
        team=route(identity, tier),
    )
    alerts.watch(identity, Alert.Kind.SECOND_RECOVERY,
                 f"Case {case.pk} was opened during the watch period of an earlier recovery.",
                 request=request)
    allowed = over_limit and velocity.use_allowance(identity, case, now)
    if over_limit and not allowed:  # the allowance was used by a concurrent opening
        raise WorkflowError("One more recovery was allowed for this person, and it is used.",
                            reason="velocity_identity", target=identity, number=earlier + 1,
                            window_seconds=limits.window.total_seconds())
    if earlier:
        alerts.raise_alert(identity, Alert.Kind.REPEATED_RECOVERY,
                           f"Case {case.pk} is recovery number {earlier + 1} in "
                           f"{window_words(limits.window)}"
                           f"{' for a frequent traveller' if identity.traveller else ''}"
                           f"{', allowed by a security admin' if allowed else ''}.",
                           case=case, request=request)
    watch_privileged_spike(case, now, request=request)
    record("case_opened", target=case, actor=actor, request=request, tier=case.tier,
           reasons=case.tier_reasons, source=source, team=case.team_id,
           team_name=case.team.name if case.team else "",
           **({"allowed_by_security": True} if allowed else {}))
    notices.owe_to_identity(
        identity, case=case, decision=f"case-opened:{case.pk}", event="recovery_requested",
        subject="Someone asked to recover access to your account",
        body=("A request to recover access to your account was received. If it was not you, "
              "call the service desk now: nothing will be reset without checks."),
    )
    return case


@_decision("case_claim", actor="agent")
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


@_decision("case_unclaim", actor="agent")
def unclaim(case: RecoveryCase, agent: User, *,
            request: HttpRequest | None = None) -> RecoveryCase:
    """The holding agent gives a case back to the queue."""
    case = _lock(case.pk)
    _enforce(may_unclaim(case, agent))
    _move(case, case.state, clock.now(), agent=None, claimed_at=None)
    remove_perm(WORK_PERMISSION, agent, case)
    record("case_unclaimed", target=case, actor=agent, request=request, state=case.state)
    return case
