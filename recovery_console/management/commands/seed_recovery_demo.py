"""Demo data for the recovery workflow: registered channels for demo
identities that have none, eight weeks of recovery history, and open cases
in the states an agent or a supervisor meets them.

The history is played, not written: every case goes through the workflow's
own decisions (open, claim, code, attestation, callback, document, approval,
denial, credential, enrolment, rotation, cancel, fail, expiry) at the moment
it happened, with the workflow's clock set to that moment
(``clock.frozen_at``), in the order the moments came. So each closed case has
the evidence, approvals, credentials, notices and audit entries its outcome
implies, dated in the past, and the audit chain links them as written.

Run after ``seed_demo``. Idempotent: the history is played once (not again
while any closed case exists), and an open case is opened only for a demo
identity without one.
"""

from __future__ import annotations

import csv
import heapq
import io
import itertools
import os
import random
import re
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps

import cbor2
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from webauthn.helpers import bytes_to_base64url

from accounts import webauthn
from accounts.models import Identity, RecoveryChannel, User
from audit.events import record
from recovery_console import alerts, clock, notices, outbox, tokens, workflow
from recovery_console.directory.csvfile import read_csv
from recovery_console.directory.models import DirectorySource, MappingRule, SyncRun
from recovery_console.management.commands._demo_rollout import DemoRollout
from recovery_console.models import (
    Alert,
    Notice,
    PopulationRule,
    RecoveryCase,
    RecoveryCredential,
    RecoverySession,
    ScriptStep,
    Team,
    Tier,
)
from recovery_console.oidc.demo import register_demo_application

Kind = ScriptStep.Kind
Source = RecoveryCase.Source
# The person ``make run`` suggests for a self-service request (demo_welcome):
# a low-tier manager no story below touches, so the request opens a case.
SELF_SERVICE_PERSON = "mgr-01"
# A story is a generator: it yields the moment of its next decision and is
# resumed with the clock frozen at that moment.
Story = Generator[datetime, None, None]


class Command(BaseCommand):
    help = ("Give demo identities registered channels, play eight weeks of recovery "
            "history through the workflow, and open cases for the queue.")

    def add_arguments(self, parser):
        parser.add_argument("--allow-production", action="store_true")

    @transaction.atomic
    def handle(self, *args, allow_production: bool = False, **options):
        if not settings.DEBUG and not allow_production:
            raise CommandError("Refusing to seed demo recovery data when DEBUG is off.")
        now = timezone.now()
        added = self._channels(now)
        try:
            desk = Desk.of_demo_staff()
        except (User.DoesNotExist, TOTPDevice.DoesNotExist) as missing:
            raise CommandError("Run `manage.py seed_demo` first: the demo staff are missing."
                               ) from missing
        imported = self._directory_import(desk.secadmin)
        demo_teams(desk)
        demo = DemoHistory(desk, now)
        played = 0
        if not RecoveryCase.objects.exclude(state__in=RecoveryCase.OPEN_STATES).exists():
            played = demo.play(demo.history())
        opened = demo.play(demo.open_cases())
        waves = DemoRollout(desk.secadmin, now, _new_passkey("Phone"), demo._deliver_owed).play()
        register_demo_application(desk.secadmin, settings.DEMO_RELYING_PARTY_PORT)
        self.stdout.write(self.style.SUCCESS(
            f"Channels added for {added} identities; {imported} identities taken over by the "
            f"demo HR export (a CSV import run); {played} recovery cases of the past "
            f"eight weeks played through the workflow; {opened} open cases for the queue; "
            f"{waves} passkey rollout waves, one at each stage. "
            "With DEBUG on, /outbox/ shows what each channel received. The demo application "
            "is registered with the OpenID provider."))

    def _directory_import(self, secadmin: User) -> int:
        """The demo's employees, managers and contractors come from a CSV
        export of the HR system: a CSV source, a file written from them as
        they are, previewed and applied by the security admin through the
        workflow like any upload. Nothing about them changes; each now shows
        its source. Once: a source with a succeeded run is left alone."""
        source, created = DirectorySource.objects.get_or_create(
            name=DEMO_SOURCE, defaults={"kind": DirectorySource.Kind.CSV,
                                        "enabled_attribute": "status"})
        if created:
            rules = [("kind", "attribute", "contractor", "contractor", "type"),
                     ("privileged", "group", "admins", "", ""),
                     ("data_sensitivity", "group", "sensitivity-high", "high", ""),
                     ("data_sensitivity", "group", "sensitivity-medium", "medium", "")]
            for position, (field, match_on, value, result, attribute) in enumerate(rules):
                MappingRule.objects.create(source=source, position=position, field=field,
                                           match_on=match_on, value=value, result=result,
                                           attribute=attribute)
        if source.runs.filter(status=SyncRun.Status.SUCCEEDED).exists():
            return 0
        people = (Identity.objects.filter(directory_source__isnull=True)
                  .filter(Q(directory_id__startswith="mgr-") | Q(directory_id__startswith="emp-")
                          | Q(directory_id__startswith="ctr-"))
                  .select_related("manager", "sponsor").prefetch_related("channels")
                  .order_by("directory_id"))
        if not people:
            return 0
        records, lines = read_csv(_hr_export(people), source.mapping(),
                                  settings.DIRECTORY_CSV_MAX_BYTES)
        run = workflow.preview_directory(source, records, secadmin, file_name="hr-export.csv",
                                         lines=lines)
        workflow.apply_directory_run(run, secadmin)
        return len(records)

    def _channels(self, now: datetime) -> int:
        added = 0
        for identity in Identity.objects.select_related("user").filter(channels__isnull=True):
            email = identity.user.email if identity.user and identity.user.email else \
                f"{identity.directory_id}@example.org"
            fields = {"verified_at": now - timedelta(days=300),
                      "last_confirmed_at": now - timedelta(days=20),
                      "changed_at": now - timedelta(days=300)}
            RecoveryChannel.objects.create(identity=identity, kind="email", address=email,
                                           **fields)
            if identity.directory_phone:
                RecoveryChannel.objects.create(identity=identity, kind="phone",
                                               address=identity.directory_phone, **fields)
            added += 1
        return added


DEMO_SOURCE = "HR export (demo)"


def _hr_export(people) -> bytes:
    """A CSV of ``people`` as an HR system would export them."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "name", "department", "groups", "type", "manager", "sponsor",
                     "owner", "email", "mobile", "phone", "status"])
    for person in people:
        live = {c.kind: c.address for c in person.channels.all() if c.revoked_at is None}
        groups = (["admins"] if person.privileged else []) + (
            [f"sensitivity-{person.data_sensitivity}"]
            if person.data_sensitivity != "low" else [])
        writer.writerow([
            person.directory_id, person.display_name, person.department, ";".join(groups),
            person.kind, person.manager.directory_id if person.manager else "",
            person.sponsor.directory_id if person.sponsor else "", "",
            live.get("email", ""), live.get("phone", ""), person.directory_phone,
            "active" if person.is_active else "disabled"])
    return out.getvalue().encode()


FIRST_LINE, INTERNAL_DESK = "First line (outsourced)", "Internal service desk"


def demo_teams(desk: Desk) -> tuple[Team, Team]:
    """The demo's two help-desk teams: an outsourced first line that serves
    employees and contractors up to medium (it never sees a privileged
    person, a partner or a service account) and escalates to the internal
    service desk, which serves everyone at every tier. ``agent`` is in the
    first line, ``agent2`` at the internal desk."""
    internal, _ = Team.objects.update_or_create(name=INTERNAL_DESK, defaults={
        "serves": list(PopulationRule.Population.values), "highest_tier": Tier.RESTRICTED,
        "routing_order": 20})
    first, _ = Team.objects.update_or_create(name=FIRST_LINE, defaults={
        "serves": [PopulationRule.Population.EMPLOYEE, PopulationRule.Population.CONTRACTOR],
        "highest_tier": Tier.MEDIUM, "escalates_to": internal, "routing_order": 10})
    first.members.set([desk.agent])
    internal.members.set([desk.agent2])
    return first, internal


@dataclass
class Desk:
    """The demo staff who make the decisions, with the device each steps up with."""

    agent: User
    agent2: User
    supervisor: User
    supervisor2: User
    secadmin: User
    devices: dict[int, str]

    @classmethod
    def of_demo_staff(cls) -> Desk:
        users = {u.username: u for u in User.objects.filter(
            username__in=["agent", "agent2", "supervisor", "supervisor2", "secadmin"])}
        people = {name: users.get(name) for name in
                  ("agent", "agent2", "supervisor", "supervisor2", "secadmin")}
        if None in people.values():
            raise User.DoesNotExist
        devices = {user.pk: TOTPDevice.objects.get(user=user, name="Demo authenticator")
                   .persistent_id for user in people.values()}
        return cls(**people, devices=devices)


def _sent_at_the_time(notice: Notice) -> None:
    """How the history's notices go out: they were delivered when their
    decisions were made, weeks ago. The outbox records each as delivered at
    that moment; nothing is handed to a mail server, SMS gateway or
    monitoring sink today (demo addresses must not be mailed again, and
    monitoring must not see old decisions as new ones)."""


def _story(tell: Callable[..., Story]) -> Callable[..., Story | None]:
    """A story about the demo identity named by its directory id; none when
    that identity is missing or already has an open case."""

    @wraps(tell)
    def about(self: DemoHistory, directory_id: str, *args, **kwargs) -> Story | None:
        identity = self.identities.get(directory_id)
        return None if identity is None else tell(self, identity, *args, **kwargs)

    return about


class DemoHistory:
    """Plays stories: each a sequence of workflow decisions at their moments."""

    def __init__(self, desk: Desk, now: datetime):
        self.desk = desk
        self.now = now
        # Minutes of jitter: demo data, not a secret.
        self.rng = random.Random(20261129)  # noqa: S311  # nosec B311
        self.last_notice = Notice.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        excluded = (Identity.objects.filter(recovery_cases__state__in=RecoveryCase.OPEN_STATES)
                    .values_list("pk", flat=True))
        self.identities = {i.directory_id: i for i in Identity.objects.select_related("user")
                           .filter(is_active=True).exclude(pk__in=excluded)}

    # --- playing ---------------------------------------------------------------

    def play(self, stories: list[Story]) -> int:
        """Run every story's decisions in the order of their moments (so case
        numbers and the audit chain follow time, as they would have)."""
        queue, order = [], itertools.count()
        for story in stories:
            self._schedule(queue, order, story, None)
        while queue:
            at, _, story = heapq.heappop(queue)
            with clock.frozen_at(at):
                self._schedule(queue, order, story, at)
            if queue and queue[0][0] > self.now:
                raise CommandError(f"Demo history: a decision planned after now ({queue[0][0]}).")
            self._deliver_owed(at + timedelta(seconds=4))
        return len(stories)

    @staticmethod
    def _schedule(queue: list, order, story: Story, at: datetime | None) -> None:
        try:
            moment = next(story) if at is None else story.send(at)
        except StopIteration:
            return
        if at is not None and moment < at:
            raise CommandError(f"Demo history: a story went back in time ({moment} < {at}).")
        heapq.heappush(queue, (moment, next(order), story))

    def _deliver_owed(self, at: datetime) -> None:
        """Every notice the decisions just owed goes through the outbox's own
        delivery, seconds after the decision (see ``_sent_at_the_time``)."""
        owed = list(Notice.objects.filter(pk__gt=self.last_notice, sent_at__isnull=True,
                                          failed_at__isnull=True).values_list("pk", flat=True))
        with clock.frozen_at(at):
            for pk in owed:
                outbox.deliver(pk, send=_sent_at_the_time)

    def _day(self, days_ago: int, hour: int, minute: int = 0) -> datetime:
        day = (self.now - timedelta(days=days_ago)).replace(hour=hour, minute=minute,
                                                           second=0, microsecond=0)
        return min(day, self.now - timedelta(minutes=5))

    def _ago(self, minutes: int) -> datetime:
        return (self.now - timedelta(minutes=minutes)).replace(microsecond=0)

    def _minutes(self, low: int, high: int) -> timedelta:
        return timedelta(minutes=self.rng.randint(low, high), seconds=self.rng.randint(0, 59))

    # --- what happened ---------------------------------------------------------

    def history(self) -> list[Story]:
        """Eight weeks of closed cases: completed at every tier, denied, failed,
        cancelled and expired, by both agents, approved by both supervisors."""
        d = self.desk
        plan = [
            # Completed, low tier: a code to a registered channel, no supervisor.
            self.completed("emp-005", d.agent, self._day(54, 9, 12)),
            self.completed("emp-007", d.agent2, self._day(47, 14, 3), source=Source.SELF_SERVICE),
            self.completed("emp-012", d.agent, self._day(33, 10, 41), delivery="read_out"),
            self.completed("emp-014", d.agent2, self._day(12, 8, 55), wrong_code_first=True),
            # Medium: code and callback; contractors and partners: their sponsor or
            # partner administrator attests.
            self.completed("emp-006", d.agent2, self._day(51, 11, 20)),
            self.completed("ctr-000", d.agent, self._day(40, 15, 2)),
            self.completed("ctr-001", d.agent2, self._day(26, 9, 37), delivery="read_out"),
            self.completed("ctr-004", d.agent, self._day(9, 13, 15)),
            self.completed("ptn-002", d.agent, self._day(30, 10, 5)),
            self.completed("ptn-004", d.agent2, self._day(6, 16, 10)),
            # High: the manager attests and a supervisor approves; privileged people
            # need two supervisors and have the shortest credential lifetime.
            self.completed("emp-001", d.agent, self._day(44, 9, 48), approvers=(d.supervisor,)),
            self.completed("emp-002", d.agent2, self._day(19, 14, 26),
                           approvers=(d.supervisor2,)),
            self.completed("emp-000", d.agent, self._day(23, 11, 7),
                           approvers=(d.supervisor2, d.supervisor)),
            # Restricted: a second recovery within 30 days raises the tier; the
            # first call was cancelled.
            self.cancelled("emp-008", d.agent2, self._day(27, 16, 40), by=d.agent2,
                           reason="The caller had to leave before the code arrived; they "
                                  "will call again."),
            self.completed("emp-008", d.agent, self._day(16, 10, 2),
                           approvers=(d.supervisor, d.supervisor2), alert_handled=True),
            # Restricted governance: a shared service account ends in a rotation.
            self.rotated("svc-payroll-export", d.agent2, self._day(37, 13, 30)),
            self.rotated("svc-hr-sync", d.agent, self._day(4, 10, 45)),
            # Denied by the approver.
            self.denied("emp-019", d.agent, self._day(35, 15, 50), d.supervisor,
                        "The manager confirmed within a minute but is on leave this week per "
                        "HR; the caller could not say why. Ask for a video identity check."),
            self.denied("emp-023", d.agent2, self._day(15, 12, 35), d.supervisor2,
                        "The caller asked twice to send the link to a personal address. "
                        "Refused; security team told."),
            self.denied("svc-ci-deployer", d.agent, self._day(21, 9, 15), d.secadmin,
                        "No change ticket for this rotation: raise one with the owner first."),
            # Failed verification.
            self.failed_codes("emp-016", d.agent2, self._day(42, 11, 55)),
            self.refused_by_attester("ctr-002", d.agent, self._day(29, 14, 20)),
            self.failed_callback("emp-015", d.agent, self._day(8, 9, 30)),
            # Cancelled.
            self.cancelled("emp-018", d.agent, self._day(49, 10, 15), by=d.agent,
                           reason="The person found their security key in their bag."),
            self.cancelled("ctr-003", d.agent2, self._day(13, 15, 5), by=d.supervisor,
                           reason="Duplicate: the sponsor asked the desk to wait until the "
                                  "contractor's laptop is replaced."),
            # Expired.
            self.expired("emp-020", None, self._day(38, 18, 40)),
            self.expired("ptn-003", d.agent, self._day(24, 10, 50)),
            self.expired_unredeemed("emp-009", d.agent2, self._day(11, 11, 25)),
        ]
        return [story for story in plan if story is not None]

    def open_cases(self) -> list[Story]:
        """Today's queue: one new case per tier, and cases waiting on the
        caller, the attester, a supervisor, and the agent."""
        d = self.desk
        plan = [
            self.opened("mgr-02", d.agent, self._ago(95)),
            self.opened("ctr-006", None, self._ago(70)),
            self.opened("emp-011", d.agent2, self._ago(50)),
            self.opened("svc-sso-bridge", d.agent, self._ago(30)),
            self.waiting_for_code("ptn-005", d.agent2, self._ago(12)),
            self.waiting_for_attestation("ctr-007", d.agent, self._ago(40)),
            self.waiting_for_approval("emp-021", d.agent2, self._ago(150)),
            self.ready_to_issue("mgr-03", d.agent, self._ago(75)),
        ]
        return [story for story in plan if story is not None]

    # --- stories ---------------------------------------------------------------

    @_story
    def completed(self, identity: Identity, agent: User, t: datetime, *, approvers=(),
                  source: str = Source.DESK, delivery: str = "channel",
                  wrong_code_first: bool = False, alert_handled: bool = False) -> Story:
        t = yield t
        self._lost_passkey(identity, t)
        case = self._open(identity, agent, source)
        agent = self._worker(case, agent)
        if alert_handled:
            t = yield t + self._minutes(3, 6)
            for alert in Alert.objects.filter(identity=identity, acknowledged_at__isnull=True):
                alerts.acknowledge(alert, self.desk.secadmin,
                                   note="Expected: the person confirmed it by phone.")
        t = yield t + self._minutes(2, 15)
        workflow.claim(case, agent)
        t = yield from self._verify(case, agent, t, wrong_code_first=wrong_code_first)
        t = yield from self._approve(case, agent, approvers, t)
        yield from self._restore(case, agent, t, delivery)

    @_story
    def rotated(self, identity: Identity, agent: User, t: datetime) -> Story:
        t = yield t
        case = self._open(identity, agent)
        agent = self._worker(case, agent)
        t = yield t + self._minutes(1, 5)
        workflow.claim(case, agent)
        t = yield from self._verify(case, agent, t)
        t = yield from self._approve(case, agent, (self.desk.secadmin,), t)
        t = yield t + self._minutes(20, 90)
        workflow.record_rotation(case, agent, f"CHG-{10000 + case.pk * 37}",
                                 "Key rotated in the vault; the old key was revoked.")

    @_story
    def denied(self, identity: Identity, agent: User, t: datetime, approver: User,
               reason: str) -> Story:
        t = yield t
        self._lost_passkey(identity, t)
        case = self._open(identity, agent)
        agent = self._worker(case, agent)
        t = yield t + self._minutes(2, 10)
        workflow.claim(case, agent)
        t = yield from self._verify(case, agent, t)
        t = yield t + self._minutes(1, 4)
        workflow.request_approval(case, agent)
        t = yield t + self._minutes(10, 50)
        workflow.deny(case, approver, reason, step_up=self._step_up(approver, t))

    @_story
    def failed_codes(self, identity: Identity, agent: User, t: datetime) -> Story:
        t = yield t
        self._lost_passkey(identity, t)
        case = self._open(identity, agent)
        agent = self._worker(case, agent)
        t = yield t + self._minutes(2, 8)
        workflow.claim(case, agent)
        step = case.script.steps.get(kind=Kind.CHANNEL_CODE)
        t = yield t + self._minutes(1, 3)
        workflow.send_channel_code(case, agent, step, self._channel(case))
        for wrong in ("000000", "123456", "654321"):
            t = yield t + self._minutes(1, 2)
            workflow.check_channel_code(case, agent, step, wrong)
        t = yield t + self._minutes(1, 3)
        workflow.fail(case, agent, "The caller read back three wrong codes and could not say "
                                   "which phone the code went to.")

    @_story
    def refused_by_attester(self, identity: Identity, agent: User, t: datetime) -> Story:
        t = yield t
        self._lost_passkey(identity, t)
        case = self._open(identity, agent)
        agent = self._worker(case, agent)
        t = yield t + self._minutes(2, 8)
        workflow.claim(case, agent)
        t = yield from self._verify(case, agent, t, attester_confirms=False)

    @_story
    def failed_callback(self, identity: Identity, agent: User, t: datetime) -> Story:
        t = yield t
        self._lost_passkey(identity, t)
        case = self._open(identity, agent)
        agent = self._worker(case, agent)
        t = yield t + self._minutes(2, 8)
        workflow.claim(case, agent)
        t = yield from self._verify(case, agent, t, stop_at=Kind.CALLBACK)
        t = yield t + self._minutes(4, 15)
        step = case.script.steps.get(kind=Kind.CALLBACK)
        workflow.record_evidence(case, agent, step, passed=False,
                                 note="The person at the directory number had not asked to "
                                      "recover anything.")
        t = yield t + self._minutes(1, 4)
        workflow.fail(case, agent, "Callback: the account holder did not make this request.")

    @_story
    def cancelled(self, identity: Identity, agent: User, t: datetime, *, by: User,
                  reason: str) -> Story:
        t = yield t
        self._lost_passkey(identity, t)
        case = self._open(identity, agent)
        worker = self._worker(case, agent)
        by, agent = (worker if by == agent else by), worker
        t = yield t + self._minutes(2, 8)
        workflow.claim(case, agent)
        t = yield t + self._minutes(3, 25)
        workflow.cancel(case, by, reason)

    @_story
    def expired(self, identity: Identity, agent: User | None, t: datetime) -> Story:
        """Nobody finished it (nobody claimed it, or the caller never read the
        code back): the minute sweep closes it at its deadline."""
        t = yield t
        self._lost_passkey(identity, t)
        case = self._open(identity, agent, Source.DESK if agent else Source.SELF_SERVICE)
        agent = self._worker(case, agent)
        if agent is not None:
            t = yield t + self._minutes(2, 8)
            workflow.claim(case, agent)
            t = yield t + self._minutes(1, 3)
            step = case.script.steps.get(kind=Kind.CHANNEL_CODE)
            workflow.send_channel_code(case, agent, step, self._channel(case))
        t = yield case.deadline + timedelta(seconds=40)
        workflow.expire_due(case_ids=[case.pk], now=t)

    @_story
    def expired_unredeemed(self, identity: Identity, agent: User, t: datetime, *,
                           approvers=()) -> Story:
        """The credential was issued and never used: the sweep expires the case
        once it runs out."""
        t = yield t
        self._lost_passkey(identity, t)
        case = self._open(identity, agent)
        agent = self._worker(case, agent)
        t = yield t + self._minutes(2, 8)
        workflow.claim(case, agent)
        t = yield from self._verify(case, agent, t)
        t = yield from self._approve(case, agent, approvers, t)
        t = yield t + self._minutes(2, 6)
        issued = workflow.issue_credential(case, agent, channel=self._channel(case, "email"))
        t = yield issued.credential.expires_at + timedelta(seconds=40)
        workflow.expire_due(case_ids=[case.pk], now=t)

    # --- open cases ------------------------------------------------------------

    @_story
    def opened(self, identity: Identity, agent: User | None, t: datetime) -> Story:
        yield t
        self._lost_passkey(identity, t)
        self._open(identity, agent, Source.DESK if agent else Source.SELF_SERVICE)

    @_story
    def waiting_for_code(self, identity: Identity, agent: User, t: datetime) -> Story:
        t = yield t
        self._lost_passkey(identity, t)
        case = self._open(identity, agent)
        agent = self._worker(case, agent)
        t = yield t + timedelta(minutes=4)
        workflow.claim(case, agent)
        yield t + timedelta(minutes=3)
        step = case.script.steps.get(kind=Kind.CHANNEL_CODE)
        workflow.send_channel_code(case, agent, step, self._channel(case))

    @_story
    def waiting_for_attestation(self, identity: Identity, agent: User, t: datetime) -> Story:
        t = yield t
        self._lost_passkey(identity, t)
        case = self._open(identity, agent)
        agent = self._worker(case, agent)
        t = yield t + timedelta(minutes=3)
        workflow.claim(case, agent)
        t = yield from self._verify(case, agent, t, stop_at=Kind.ATTESTATION)
        yield t + timedelta(minutes=1)
        step = case.script.steps.get(kind=Kind.ATTESTATION)
        workflow.request_attestation(case, agent, step)

    @_story
    def waiting_for_approval(self, identity: Identity, agent: User, t: datetime) -> Story:
        t = yield t
        self._lost_passkey(identity, t)
        case = self._open(identity, agent)
        agent = self._worker(case, agent)
        t = yield t + timedelta(minutes=4)
        workflow.claim(case, agent)
        t = yield from self._verify(case, agent, t)
        case.refresh_from_db()
        if case.state == RecoveryCase.State.VERIFIED:
            yield t + timedelta(minutes=2)
            workflow.request_approval(case, agent)

    @_story
    def ready_to_issue(self, identity: Identity, agent: User, t: datetime) -> Story:
        t = yield t
        self._lost_passkey(identity, t)
        case = self._open(identity, agent)
        agent = self._worker(case, agent)
        t = yield t + timedelta(minutes=5)
        workflow.claim(case, agent)
        yield from self._verify(case, agent, t)

    # --- the decisions of a story ----------------------------------------------

    def _worker(self, case: RecoveryCase, agent: User | None) -> User | None:
        """Who works ``case``: the story's agent when it is routed to their
        team, else the demo agent of the team it is routed to (the first line
        opens a privileged person's case; the internal desk works it)."""
        if agent is None or workflow.in_scope(case, agent):
            return agent
        return next(a for a in (self.desk.agent, self.desk.agent2) if workflow.in_scope(case, a))

    def _open(self, identity: Identity, agent: User | None,
              source: str = Source.DESK) -> RecoveryCase:
        if source == Source.DESK:
            return workflow.open_case(identity, source=source, actor=agent)
        return workflow.open_case(identity, source=source)

    def _verify(self, case: RecoveryCase, agent: User, t: datetime, *,
                wrong_code_first: bool = False, attester_confirms: bool = True,
                stop_at: str | None = None) -> Story:
        """Pass the required steps of the case's script in order, as the agent
        and the caller would; returns the moment of the last step. (An optional
        step placed after the last required one cannot be recorded: the case is
        verified as soon as the required ones pass and the pressure checklist,
        last, is answered.)"""
        for step in case.script.steps.filter(required=True).order_by("position"):
            if step.kind == stop_at:
                break
            t = yield t + self._minutes(1, 4)
            if step.kind == Kind.CHANNEL_CODE:
                channel = self._channel(case)
                code = self._code_sent(workflow.send_channel_code(case, agent, step, channel))
                if wrong_code_first:
                    t = yield t + self._minutes(1, 2)
                    workflow.check_channel_code(case, agent, step, _wrong(code))
                t = yield t + self._minutes(1, 3)
                workflow.check_channel_code(case, agent, step, code)
            elif step.kind == Kind.ATTESTATION:
                token = self._attestation_link(workflow.request_attestation(case, agent, step))
                t = yield t + self._minutes(15, 110)
                workflow.answer_attestation(token, attester_confirms)
                if not attester_confirms:
                    return t
            elif step.kind == Kind.CALLBACK:
                workflow.record_evidence(
                    case, agent, step, note="Called the directory number back; the same "
                                            "person answered and confirmed the request.")
            elif step.kind == Kind.ID_DOCUMENT:
                workflow.record_evidence(
                    case, agent, step, document_type="passport",
                    document_last4=f"{self.rng.randint(0, 9999):04d}",
                    note="Photo and name match, seen on a video call.")
        else:  # the script ends with the pressure checklist (when any sign is asked)
            case.refresh_from_db()
            if workflow.may_answer_pressure(case, agent) is None and workflow.pressure_signs():
                t = yield t + self._minutes(1, 2)
                workflow.answer_pressure_checklist(case, agent, [], none_observed=True,
                                                   note="Calm caller; answered every question.")
        return t

    def _approve(self, case: RecoveryCase, agent: User, approvers, t: datetime) -> Story:
        case.refresh_from_db()
        if case.rules.approvals_required == 0:
            return t  # approved by policy when verified
        t = yield t + self._minutes(1, 4)
        workflow.request_approval(case, agent)
        for approver in approvers:
            t = yield t + self._minutes(8, 40)
            workflow.approve(case, approver, "Evidence complete and consistent; the "
                             "attester confirmed on their own channel.",
                             step_up=self._step_up(approver, t))
        return t

    def _restore(self, case: RecoveryCase, agent: User, t: datetime, delivery: str) -> Story:
        """Issue the credential, the person redeems it and enrols a passkey."""
        t = yield t + self._minutes(2, 6)
        channel = self._channel(case, "email") if delivery == "channel" else None
        issued = workflow.issue_credential(case, agent, channel=channel)
        lifetime = issued.credential.expires_at - issued.credential.created_at
        t = yield t + min(self._minutes(2, 12), lifetime - timedelta(minutes=1))
        session = _redeemed_at_the_time(issued, t)
        yield t + self._minutes(1, 3)
        workflow.complete_enrolment(session, _new_passkey("Passkey enrolled after recovery"))

    def _lost_passkey(self, identity: Identity, t: datetime) -> None:
        """The passkey the person had before losing it, enrolled months earlier."""
        user = identity.user
        if user is None or user.passkeycredential_set.exists():
            return
        with (clock.frozen_at(t - timedelta(days=150 + self.rng.randint(0, 200))) as before,
              transaction.atomic()):
            workflow.passkey_added(_new_passkey("Phone")(user))
        self._deliver_owed(before + timedelta(seconds=4))

    def _channel(self, case: RecoveryCase, kind: str = "phone") -> RecoveryChannel:
        channels = case.identity.channels.filter(revoked_at__isnull=True,
                                                 kind__in=[kind, "email", "phone"])
        return sorted(channels, key=lambda c: c.kind != kind)[0]

    def _step_up(self, approver: User, t: datetime) -> dict:
        return {"device": self.desk.devices[approver.pk],
                "at": (t - timedelta(seconds=50)).isoformat()}

    @staticmethod
    def _code_sent(code) -> str:
        """The code as the caller reads it from their channel."""
        body = Notice.objects.get(idempotency_key=f"channel-code:{code.pk}").body
        return re.search(r"code is (\d{6})", body).group(1)

    @staticmethod
    def _attestation_link(attestation) -> str:
        """The token of the link the attester opens from their own channel."""
        body = Notice.objects.get(idempotency_key=f"attestation:{attestation.pk}").body
        return re.search(r"/attest/([\w-]+)/", body).group(1)


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def _new_passkey(name: str) -> Callable[[User], object]:
    """A passkey as a completed WebAuthn registration leaves it: the ceremony
    needs a browser (or an authenticator's private key) this command does not
    have, so the verified result is stored directly, through the same
    ``webauthn.store_passkey`` the ceremony ends with (its audit entry; the
    caller adds ``workflow.passkey_added``: notices, watch-period alert).
    A fresh P-256 public key; its private key is discarded, so nobody can
    ever sign in with it."""

    def enrol(user: User):
        numbers = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
        cose = cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"),
                            -3: numbers.y.to_bytes(32, "big")})
        return webauthn.store_passkey(user, name=name,
                                      credential_id=bytes_to_base64url(os.urandom(32)),
                                      public_key=cose, transports=["internal"],
                                      created_at=clock.now())

    return enrol


def _redeemed_at_the_time(issued: workflow.IssuedCredential,
                          now: datetime) -> RecoverySession:
    """The person redeems the credential at ``now`` (the past).

    ``workflow.redeem`` cannot replay this: it checks the credential's deadline
    against the database's clock too, on purpose, so that no application
    clock can make an expired credential work. This writes what a redemption
    writes (the attempt counted and the credential consumed by the same
    conditional UPDATE, the recovery session, the audit entry and the
    monitoring notice), checked against the replayed moment only."""
    credential = issued.credential
    case = credential.case
    won = RecoveryCredential.objects.filter(
        pk=credential.pk, used_at__isnull=True, voided_at__isnull=True, expires_at__gt=now,
    ).update(used_at=now, attempts=F("attempts") + 1)
    if not won:
        raise CommandError(f"Demo history: the credential of case {case.pk} could not be "
                           "redeemed at its moment.")
    session = RecoverySession.objects.create(
        case=case, identity=case.identity, credential=credential,
        digest=tokens.digest("recovery-session", tokens.new_token()), created_at=now,
        expires_at=now + timedelta(seconds=settings.RECOVERY_SESSION_SECONDS),
    )
    record("credential_redeemed", target=case, actor=None, credential=credential.pk,
           session=session.pk)
    notices.owe_to_monitoring(
        case=case, decision=f"credential-redeemed:{credential.pk}",
        event="recovery_credential_redeemed", identity=case.identity,
        subject="Recovery credential redeemed",
        body=f"Case {case.pk}: the recovery credential was redeemed.",
    )
    return session
