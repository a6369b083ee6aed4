"""Which help-desk team's queue holds a case (scoped help desks).

A team serves a case when it serves every population of the person (their
kind, and privileged people when they are privileged) and the case's tier
is at most the team's highest tier. ``open_case`` routes a new case to the
first team (routing order, then name) that serves it, else to the console's
own desk (no team: the agents in no team). When a case's tier rises, any
decision that raised it calls ``reroute`` in its own transaction: a case its
team no longer serves moves on, and a holder who may not see it there loses
it. A privileged person's case opening for a team counts towards the team's
spike alert (``privileged_spike``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.http import HttpRequest
from guardian.shortcuts import remove_perm

from accounts.models import Identity, User
from audit.events import record

from .. import alerts, populations
from ..models import Alert, RecoveryCase, Team, Tier
from .rules import WORK_PERMISSION, in_scope, staff_name

# The window a team's privileged_per_hour counts in, and in which one spike
# alert per team stands for all.
SPIKE_WINDOW = timedelta(hours=1)


def serves(team: Team, identity: Identity, tier: str) -> bool:
    """Whether ``team`` takes a case of ``identity`` at ``tier``."""
    return (set(populations.populations_of(identity)) <= set(team.serves)
            and Tier.rank(tier) <= Tier.rank(team.highest_tier))


def route(identity: Identity, tier: str) -> Team | None:
    """The first team (routing order, then name) that serves a case of
    ``identity`` at ``tier``; None: the console's own desk. One query."""
    return next((team for team in Team.objects.order_by("routing_order", "name")
                 if serves(team, identity, tier)), None)


def reroute(case: RecoveryCase, actor: User | None, why: str, *,
            request: HttpRequest | None = None) -> Team | None:
    """Move ``case`` (locked by the caller's decision, its tier already
    raised) to a team that serves it, when its own no longer does: the team
    it escalates to if that one serves it, else the first team that does,
    else the console's own desk. (The desk serves every case: a case there
    stays.) When the holder may not see the case where it goes, they lose
    it: no agent, and their right to work it removed. Audited as
    ``case_routed`` with where from, where to and ``why``. Returns the team
    the case is now routed to."""
    team = case.team
    if team is None or serves(team, case.identity, case.tier):
        return team
    target = team.escalates_to
    if target is None or not serves(target, case.identity, case.tier):
        target = route(case.identity, case.tier)
    case.team = target
    released = None
    if case.agent is not None and not _may_see(case, case.agent):
        released = case.agent
        remove_perm(WORK_PERMISSION, released, case)
        case.agent, case.claimed_at = None, None
    case.save(update_fields=["team", "agent", "claimed_at"])
    record("case_routed", target=case, actor=actor, request=request, why=why,
           **{"from": team.pk, "from_name": team.name,
              "to": target.pk if target else None, "to_name": target.name if target else "",
              "released": released.pk if released else None,
              "released_name": staff_name(released) if released else ""})
    return target


def _may_see(case: RecoveryCase, user: User) -> bool:
    # Membership as it is now: never a copy cached on the user object.
    fresh = User.objects.get(pk=user.pk)
    return in_scope(case, fresh)


def watch_privileged_spike(case: RecoveryCase, now: datetime, *,
                           request: HttpRequest | None = None) -> Alert | None:
    """A privileged person's case just opened for ``case.team`` (or the
    desk): when the privileged cases opened for it within the last hour
    reach its ``privileged_per_hour``, security is alerted at once, once per
    team per hour (the alerts of the hour stand for the cases after them).
    0 turns the alert off for that team."""
    if not case.identity.privileged:
        return None
    if case.team_id is not None:
        # Locked, so two cases opening at once count each other and alert once.
        team = Team.objects.select_for_update().get(pk=case.team_id)
        limit, where = team.privileged_per_hour, f"the team {team.name}"
    else:
        limit, where = settings.RECOVERY_DESK_PRIVILEGED_PER_HOUR, "the console's own desk"
    if not limit:
        return None
    since = now - SPIKE_WINDOW
    opened = RecoveryCase.objects.filter(team_id=case.team_id, opened_at__gt=since,
                                         identity__privileged=True).count()
    if opened < limit or Alert.objects.filter(kind=Alert.Kind.PRIVILEGED_SPIKE,
                                              case__team_id=case.team_id,
                                              created_at__gt=since).exists():
        return None
    return alerts.raise_alert(
        case.identity, Alert.Kind.PRIVILEGED_SPIKE,
        f"{opened} recoveries of privileged people opened for {where} within an hour "
        f"(alert at {limit}); the latest is case {case.pk}.",
        case=case, request=request, subject="Recovery alert: a spike of privileged recoveries")
