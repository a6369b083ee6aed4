"""The demo's passkey rollout: one plan whose five waves stand at each
stage (done, enforce, report-only, invite, pilot), played week by week
through the rollout's own decisions over the past eight weeks, so a
newcomer sees the whole of it: cohorts, the gate, invitations, enrolments,
an exception, would-be refusals and the readiness trend."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta

from accounts.models import Identity, User
from recovery_console import clock, workflow
from recovery_console.rollout import enforcement, invitations, reports
from recovery_console.rollout import workflow as rollout
from recovery_console.rollout.models import RolloutPlan, Wave

Stage = Wave.Stage
PLAN = "Passkeys for everyone (demo)"
# Each wave: its cohort's rule, and the weeks ago it entered each stage.
WAVES = [
    ("Operations", {"department": "Operations"},
     {Stage.INVITE: 7, Stage.REPORT_ONLY: 6, Stage.ENFORCE: 5, Stage.DONE: 4}),
    ("Finance", {"department": "Finance"},
     {Stage.INVITE: 6, Stage.REPORT_ONLY: 4, Stage.ENFORCE: 2}),
    ("Engineering", {"department": "Engineering"},
     {Stage.INVITE: 4, Stage.REPORT_ONLY: 1}),
    ("Sales", {"department": "Sales"}, {Stage.INVITE: 1}),
    ("Contractors", {"kind": Identity.Kind.CONTRACTOR}, {}),
]
WEEKS = 8


class DemoRollout:
    def __init__(self, secadmin: User, now: datetime, enrol: Callable[[User], object],
                 deliver_owed: Callable[[datetime], None]):
        self.admin, self.now, self.enrol, self.deliver_owed = secadmin, now, enrol, deliver_owed
        self.rng = random.Random(19)  # noqa: S311 (demo data, not secrets)  # nosec B311

    def play(self) -> int:
        """The plan, once: a demo that already has it is left alone."""
        if RolloutPlan.objects.filter(name=PLAN).exists():
            return 0
        start = self.now - timedelta(weeks=WEEKS)
        with clock.frozen_at(start):
            plan = rollout.save_plan(self.admin, {
                "name": PLAN, "passkey_share_required": 75, "channel_share_required": 75,
                "report_only_period": timedelta(days=7), "daily_case_limit": 10,
                "description": "Low-risk departments first; contractors last."})
            waves = []
            for name, rule, _ in WAVES:
                cohort = rollout.save_cohort(self.admin, {"name": name, **rule})
                waves.append(rollout.add_wave(plan, cohort, self.admin))
        for week in range(WEEKS, -1, -1):
            moment = self.now - timedelta(weeks=week, hours=1) if week else self.now
            for wave, (_, _, stages) in zip(waves, WAVES, strict=True):
                self._week(wave, stages, week, moment)
            with clock.frozen_at(moment):
                reports.take_snapshots(moment)
        return len(waves)

    def _week(self, wave: Wave, stages: dict, week: int, moment: datetime) -> None:
        wave.refresh_from_db()
        first = max(stages.values(), default=0) + 1  # the pilot runs the week before
        if week == first or (not stages and week == 1):
            self._pilot(wave, moment)
        for stage, weeks_ago in stages.items():
            if weeks_ago != week:
                continue
            if stage == Stage.ENFORCE:
                self._excuse_blockers(wave, moment)
            with clock.frozen_at(moment):
                wave = rollout.move_wave(wave, self.admin, stage)
            if stage == Stage.INVITE:
                self._invite(wave, moment)
        if wave.stage in (Stage.INVITE, Stage.REPORT_ONLY, Stage.ENFORCE) and \
                week < max(stages.values(), default=0):
            self._enrol_some(wave, moment, share=0.6)
        if wave.stage == Stage.REPORT_ONLY:
            self._would_refuse(wave, moment)

    def _pilot(self, wave: Wave, moment: datetime) -> None:
        members = list(self._without_passkey(wave, moment)[:2])
        if not members:
            return
        with clock.frozen_at(moment - timedelta(days=3)):
            rollout.choose_pilot_members(wave, self.admin, members)
            invitations.invite(wave, self.admin)
        self.deliver_owed(moment - timedelta(days=3) + timedelta(seconds=5))
        for identity in members[:1]:
            self._enrol(identity, moment - timedelta(days=2))

    def _without_passkey(self, wave: Wave, moment: datetime):
        members = rollout.readiness.members(wave.cohort).filter(user__isnull=False)
        return (rollout.readiness.with_readiness(members, moment).filter(has_passkey=False)
                .select_related("user").order_by("directory_id"))

    def _invite(self, wave: Wave, moment: datetime) -> None:
        with clock.frozen_at(moment + timedelta(minutes=5)):
            invitations.invite(wave, self.admin)
        self.deliver_owed(moment + timedelta(minutes=6))

    def _enrol_some(self, wave: Wave, moment: datetime, share: float) -> None:
        """Members invited, not yet enrolled: ``share`` of them enrol this
        week; one in five never does (they are the report-only mode's)."""
        waiting = [invitation.identity for invitation in
                   wave.invitations.filter(enrolled_at__isnull=True).select_related(
                       "identity__user").order_by("identity__directory_id")]
        for identity in waiting:
            if self._laggard(identity) or self.rng.random() > share:
                continue
            self._enrol(identity, moment + timedelta(days=self.rng.randint(1, 5)))

    def _laggard(self, identity: Identity) -> bool:
        return not identity.privileged and sum(map(ord, identity.directory_id)) % 5 == 0

    def _enrol(self, identity: Identity, at: datetime) -> None:
        if identity.user is None or identity.user.passkeycredential_set.exists():
            return
        with clock.frozen_at(min(at, self.now)):
            workflow.passkey_added(self.enrol(identity.user))
        self.deliver_owed(min(at, self.now) + timedelta(seconds=4))

    def _excuse_blockers(self, wave: Wave, moment: datetime) -> None:
        """Before enforcing: whoever still blocks the gate is excused, with
        the security admin as owner, until the new passkey arrives."""
        with clock.frozen_at(moment):
            verdict = rollout.gate(wave, moment, per_page=100)
            if verdict.passes:
                return
            for identity in verdict.blockers:
                rollout.add_exception(
                    wave, self.admin, identity, Stage.ENFORCE, self.admin,
                    "Waiting for a replacement phone; signs in with password and code until "
                    "then.", moment + timedelta(days=40))
        self.deliver_owed(moment + timedelta(seconds=5))

    def _would_refuse(self, wave: Wave, moment: datetime) -> None:
        """Members without a passkey who signed in with their password this
        week: the report-only mode records that enforcement would refuse them."""
        for identity in self._without_passkey(wave, moment)[:3]:
            with clock.frozen_at(moment + timedelta(days=1, hours=2)):
                enforcement.admit_without_passkey(identity.user)
