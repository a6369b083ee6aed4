"""Velocity limits: how many recoveries one person may have, and
how many recovery credentials one agent may issue, before security or a
supervisor must look.

Per person: the policies' ``repeat_window`` and ``refuse_from`` (the
strictest of the tiers' policies: they decide before a tier is known). The
second recovery in the window raises the tier and alerts (``open_case``); the
``refuse_from``-th is refused at the help desk and routed to security with a
VELOCITY_IDENTITY alert, until a security admin allows one more
(``allow_recovery``: single use, for ``ALLOWANCE_LIFETIME``).

Per agent: at each issue, the credentials the agent issued in the rolling
last hour and in the UTC day are held to the norms of the case's team (the
console's desk: a team's defaults). Above a norm raises AGENT_VELOCITY once
per agent per hour or day; past the daily limit each further issue that day
waits for a supervisor's ``release_issue`` of its case (``rules.may_issue``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Max, Min
from django.http import HttpRequest

from accounts.models import Identity, User
from accounts.roles import Role
from audit.events import record

from .. import alerts, clock
from ..models import Alert, IssueRelease, RecoveryAllowance, RecoveryCase, RecoveryPolicy
from ..risk import RECENT_CASE_WINDOW, window_words
from .base import WorkflowError, _decision, _lock
from .rules import (
    _enforce,
    _require_reason,
    _require_role,
    issued_since,
    may_release_issue,
    norms_of,
    staff_name,
    utc_day_start,
)

ALLOWANCE_LIFETIME = timedelta(hours=24)
REFUSE_FROM = 3


@dataclass(frozen=True)
class IdentityVelocity:
    window: timedelta
    refuse_from: int


def identity_velocity() -> IdentityVelocity:
    """The per-person limits every opening is held to: the longest window
    and the lowest refusal count of the tiers' policies (one query)."""
    found = RecoveryPolicy.objects.aggregate(window=Max("repeat_window"),
                                             refuse_from=Min("refuse_from"))
    return IdentityVelocity(window=found["window"] or RECENT_CASE_WINDOW,
                            refuse_from=found["refuse_from"] or REFUSE_FROM)


def live_allowance(identity: Identity, now: datetime) -> RecoveryAllowance | None:
    return (RecoveryAllowance.objects.filter(identity=identity, used_at__isnull=True,
                                             expires_at__gt=now).order_by("-created_at").first())


def use_allowance(identity: Identity, case: RecoveryCase, now: datetime) -> bool:
    """Use the person's live allowance for ``case``, once: a conditional
    UPDATE, so two openings never share one."""
    allowance = live_allowance(identity, now)
    if allowance is None:
        return False
    return bool(RecoveryAllowance.objects.filter(pk=allowance.pk, used_at__isnull=True)
                .update(used_at=now, case=case))


def route_to_security(identity: Identity, refusal: WorkflowError,
                      request: HttpRequest | None = None) -> Alert | None:
    """After an opening refused for velocity (rolled back, audited), tell
    security: a VELOCITY_IDENTITY alert about the person, once per window."""
    window = timedelta(seconds=refusal.data.get("window_seconds") or
                       RECENT_CASE_WINDOW.total_seconds())
    now = clock.now()
    with transaction.atomic():
        identity = Identity.objects.select_for_update().get(pk=identity.pk)  # one alert at once
        if Alert.objects.filter(identity=identity, kind=Alert.Kind.VELOCITY_IDENTITY,
                                created_at__gte=now - window).exists():
            return None
        return _alert_security(identity, refusal, window, request)


def _alert_security(identity: Identity, refusal: WorkflowError, window: timedelta,
                    request: HttpRequest | None) -> Alert:
    return alerts.raise_alert(
        identity, Alert.Kind.VELOCITY_IDENTITY,
        f"{identity.display_name}: recovery number {refusal.data.get('number')} within "
        f"{window_words(window)} was refused at the help desk. Check with the person on a "
        "known channel; allow one more recovery only if it is really them.",
        request=request, subject="Recovery refused: too many for one person")


@_decision("recovery_allow", actor="admin")
def allow_recovery(alert: Alert, admin: User, reason: str, *,
                   request: HttpRequest | None = None) -> RecoveryAllowance:
    """A security admin allows one more recovery of the person a velocity
    alert is about, with a reason: the next case opened for them (by an
    agent or self-service) within ``ALLOWANCE_LIFETIME`` uses it, once."""
    _require_role(admin, Role.SECURITY_ADMIN)
    alert = (Alert.objects.select_for_update(of=("self",)).select_related("identity")
             .get(pk=alert.pk))
    if alert.kind != Alert.Kind.VELOCITY_IDENTITY or alert.identity is None:
        raise WorkflowError("Only a refused recovery of a person (velocity alert) can be "
                            "allowed.", reason="not_velocity_alert", target=alert)
    _require_reason(reason, limit=500)
    if alert.identity.user_id is not None and alert.identity.user_id == admin.pk:
        raise WorkflowError("You cannot allow a recovery of your own account.",
                            reason="subject", status=WorkflowError.FORBIDDEN, target=alert)
    now = clock.now()
    if live_allowance(alert.identity, now) is not None:
        raise WorkflowError("One more recovery is already allowed for this person.",
                            reason="already_allowed", target=alert)
    allowance = RecoveryAllowance.objects.create(
        identity=alert.identity, alert=alert, granted_by=admin, reason=reason.strip(),
        created_at=now, expires_at=now + ALLOWANCE_LIFETIME)
    record("recovery_allowed", target=alert, actor=admin, request=request,
           identity=alert.identity_id, allowance=allowance.pk, reason=allowance.reason,
           expires_at=allowance.expires_at.isoformat())
    return allowance


@_decision("issue_release", actor="supervisor")
def release_issue(case: RecoveryCase, supervisor: User, reason: str, *, step_up: dict | None,
                  request: HttpRequest | None = None) -> IssueRelease:
    """A supervisor who stepped up releases a case whose agent is past their
    daily limit: its credential may be issued. Never the agent, anyone who
    worked the case, its subject; with a reason; once per case."""
    from .approval import _require_fresh_step_up

    case = _lock(case.pk)
    _enforce(may_release_issue(case, supervisor))
    _require_reason(reason)
    now = clock.now()
    _require_fresh_step_up(step_up, now)
    IssueRelease.objects.filter(case=case).delete()  # one made for an earlier holder
    release = IssueRelease.objects.create(
        case=case, agent=case.agent, supervisor=supervisor, reason=reason.strip(),
        step_up_device=step_up["device"], step_up_at=datetime.fromisoformat(step_up["at"]),
        created_at=now)
    record("issue_released", target=case, actor=supervisor, request=request,
           agent=case.agent_id, reason=release.reason, step_up_device=release.step_up_device,
           step_up_at=step_up["at"])
    return release


def alert_agent_velocity(case: RecoveryCase, agent: User, now: datetime,
                         request: HttpRequest | None = None) -> list[Alert]:
    """After ``agent`` issued on ``case``: above the hourly or daily norm of
    the case's team, raise AGENT_VELOCITY, once per agent per hour (rolling)
    and per UTC day."""
    norms = norms_of(case)
    raised = []
    for period, since, norm in (("hour", now - timedelta(hours=1), norms.hourly_norm),
                                ("UTC day", utc_day_start(now), norms.daily_norm)):
        issued = issued_since(agent, since)
        if issued <= norm or Alert.objects.filter(
                kind=Alert.Kind.AGENT_VELOCITY, staff=agent, created_at__gte=since,
                detail__contains=f"in the {period}").exists():
            continue
        alert = alerts.raise_alert(
            None, Alert.Kind.AGENT_VELOCITY,
            f"{staff_name(agent)} issued {issued} recovery credentials in the {period}, above "
            f"the norm of {norm} ({case.team.name if case.team_id else 'the console desk'}); "
            f"the last on case {case.pk}.", case=case, request=request,
            subject="An agent issued more recovery credentials than the norm", staff=agent)
        raised.append(alert)
    return raised
