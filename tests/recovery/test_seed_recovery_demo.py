"""The demo data tells a true story: every seeded case went through the
workflow's decisions at their past moments, so an auditor's sample has the
evidence, approvals, credentials, notices and audit entries each outcome
implies, and today's queue has cases in the states agents meet them."""

import re
from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core import mail
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from accounts.models import PasskeyCredential, User
from audit import chain
from audit.models import SamplingReport
from recovery_console import outbox
from recovery_console.models import (
    Alert,
    Approval,
    CredentialRotation,
    Evidence,
    Notice,
    RecoveryCase,
    Repudiation,
    Team,
)
from tests.sessions import sign_in_client

pytestmark = pytest.mark.django_db
State = RecoveryCase.State
CLOSED = [State.COMPLETED, State.DENIED, State.FAILED, State.CANCELLED, State.EXPIRED]


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """The demo seeded once for the module (it is the slow part), in a
    transaction rolled back after the module's last test; each test runs in a
    savepoint inside it, so what one test changes the next never sees. Gives
    the moment seeding ended and the mail it sent."""
    with django_db_blocker.unblock(), override_settings(DEBUG=True), transaction.atomic():
        mail.outbox = []
        call_command("seed_demo")
        call_command("seed_recovery_demo")
        chain.flush()  # the transaction never commits: chain what it wrote
        yield timezone.now(), list(mail.outbox)
        transaction.set_rollback(True)


@pytest.fixture
def seeded(demo, settings):
    settings.DEBUG = True  # the demo commands run only in development
    return demo[0]


def events_of(case):
    entries = LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(RecoveryCase),
                                      object_pk=str(case.pk))
    return {e.additional_data.get("event") for e in entries if e.additional_data}


def test_every_closed_case_has_what_its_outcome_implies(seeded):
    closed = RecoveryCase.objects.filter(state__in=CLOSED).select_related("identity")
    assert {c.state for c in closed} == set(CLOSED)
    completed_tiers = {c.tier for c in closed if c.state == State.COMPLETED}
    assert completed_tiers == {"low", "medium", "high", "restricted"}
    for case in closed:
        events = events_of(case)
        assert {"case_opened", "case_claimed"} <= events or case.agent is None, case
        passed = set(case.evidence.filter(result="passed").values_list("step_id", flat=True))
        required = set(case.script.steps.filter(required=True).values_list("pk", flat=True))
        approvals = list(case.approvals.all())
        if case.state == State.COMPLETED:
            assert required <= passed, case
            given = [a for a in approvals if a.decision == Approval.Decision.APPROVE]
            assert len(given) == case.rules.approvals_required, case
            assert len({a.approver_id for a in given}) == len(given)
            assert all(a.step_up_at <= a.created_at for a in given)
            assert {"case_verified", "case_approved", "case_completed"} <= events \
                or {"case_verified", "case_approved", "rotation_recorded"} <= events, case
            assert case.notices.filter(event__in=["recovery_completed", "recovery_rotated"],
                                       identity=case.identity).exists() or \
                case.identity.kind == "service_account", case
            assert case.notices.filter(medium="monitoring").exists()
            if case.rules.path == "rotation":
                assert CredentialRotation.objects.filter(case=case).exists()
                continue
            credential = case.credentials.get(used_at__isnull=False)
            session = case.sessions.get(credential=credential)
            assert credential.created_at < credential.used_at <= session.created_at
            assert session.used_at is not None and session.used_at <= case.closed_at
            passkey = Repudiation.objects.get(case=case).passkey
            assert passkey.created_at == case.closed_at and passkey.revoked_at is None
            assert {"credential_issued", "credential_redeemed"} <= events
            assert PasskeyCredential.objects.filter(
                user=case.identity.user, revoked_at=case.closed_at).exists(), \
                "the lost passkey is revoked when the new one is enrolled"
        elif case.state == State.DENIED:
            denial = case.approvals.get(decision=Approval.Decision.DENY)
            assert denial.reason.strip() and denial.created_at == case.closed_at
            assert required <= passed and "case_denied" in events
            assert case.notices.filter(event="recovery_denied").exists()
        elif case.state == State.FAILED:
            assert case.evidence.filter(result="failed").exists(), case
            assert case.closing_reason and "case_failed" in events
        elif case.state == State.CANCELLED:
            assert case.closing_reason and "case_cancelled" in events
        elif case.state == State.EXPIRED:
            assert "case_expired" in events
            ran_out = case.credentials.filter(used_at__isnull=True).first()
            assert case.closed_at >= (ran_out.expires_at if ran_out else case.deadline)
        assert case.notices.filter(event="recovery_requested").exists()


def test_seeded_history_is_dated_in_the_past_and_in_order(seeded):
    today = seeded - timedelta(hours=24)
    for case in RecoveryCase.objects.filter(state__in=CLOSED):
        moments = [case.opened_at, case.claimed_at, case.verified_at, case.approved_at,
                   case.closed_at]
        present = [m for m in moments if m is not None]
        assert present == sorted(present), case
        assert case.opened_at < case.closed_at < today, case
        if case.approved_at:
            assert case.opened_at < case.verified_at <= case.approved_at < case.closed_at
        rows = [*case.evidence.values_list("created_at", flat=True),
                *case.approvals.values_list("created_at", flat=True),
                *case.credentials.values_list("created_at", flat=True),
                *Notice.objects.filter(case=case).values_list("created_at", flat=True),
                *LogEntry.objects.filter(
                    content_type=ContentType.objects.get_for_model(RecoveryCase),
                    object_pk=str(case.pk)).values_list("timestamp", flat=True)]
        assert all(case.opened_at <= at <= case.closed_at for at in rows), case
    assert RecoveryCase.objects.filter(state__in=CLOSED).order_by("pk").values_list(
        "opened_at", flat=True)[0] < seeded - timedelta(days=40), "spread over weeks"
    opened = list(RecoveryCase.objects.order_by("pk").values_list("opened_at", flat=True))
    assert opened == sorted(opened), "case numbers follow time"


def test_history_notices_are_settled_at_their_moment_and_nothing_is_sent_today(seeded, demo):
    assert demo[1] == []  # seeding sent no mail
    notices = Notice.objects.all()
    assert notices.count() > 200
    assert not notices.filter(sent_at__isnull=True).exists()
    for notice in notices:
        if notice.medium == Notice.Medium.PORTAL:  # shown on the portal page as written
            assert notice.sent_at == notice.created_at
        else:
            assert timedelta(0) < notice.sent_at - notice.created_at < timedelta(seconds=10)
    assert outbox.sweep_due() == []
    assert outbox.deliver(notices.first().pk) == "skipped"  # the worker's dispatch
    assert mail.outbox == []


def test_seeding_again_adds_nothing_and_the_audit_chain_verifies(seeded, capsys):
    counts = (RecoveryCase.objects.count(), Evidence.objects.count(), Notice.objects.count(),
              PasskeyCredential.objects.count(), Alert.objects.count())
    call_command("seed_demo")
    call_command("seed_recovery_demo")
    chain.flush()
    assert (RecoveryCase.objects.count(), Evidence.objects.count(), Notice.objects.count(),
            PasskeyCredential.objects.count(), Alert.objects.count()) == counts
    capsys.readouterr()
    call_command("verify_audit_chain")
    assert "Audit chain intact" in capsys.readouterr().out
    assert LogEntry.objects.filter(timestamp__lt=timezone.now() - timedelta(days=7)).count() > 500


def test_todays_queue_has_open_cases_in_the_states_agents_and_supervisors_meet(seeded, client):
    open_cases = RecoveryCase.objects.filter(state__in=RecoveryCase.OPEN_STATES)
    new = open_cases.filter(state=State.NEW, agent=None)
    assert {c.tier for c in new} == {"low", "medium", "high", "restricted"}
    assert {c.state for c in open_cases} >= {State.NEW, State.VERIFYING,
                                              State.AWAITING_APPROVAL, State.APPROVED}
    # Each agent's queue holds the open cases of their team: the new ones,
    # and those they hold.
    for agent in User.objects.filter(username__in=["agent", "agent2"]):
        sign_in_client(client, agent)
        page = client.get(reverse("recovery:queue")).content.decode()
        mine = agent.teams.get()
        for case in new.filter(team=mine):
            assert case.identity.display_name in page
        for case in open_cases.filter(agent=agent):
            assert case.identity.display_name in page
            assert case.team == mine
    supervisor = User.objects.get(username="supervisor")
    sign_in_client(client, supervisor)
    page = client.get(reverse("recovery:approvals")).content.decode()
    waiting = open_cases.get(state=State.AWAITING_APPROVAL)
    assert waiting.identity.display_name in page


def test_an_auditors_sample_of_the_seeded_data_shows_closed_stories_dated_in_the_past(
        seeded, client):
    auditor = User.objects.get(username="auditor")
    sign_in_client(client, auditor)
    period = {"title": "Last two months", "period_start": (seeded - timedelta(days=60)).date(),
              "period_end": seeded.date(), "sample_rate": "1"}
    response = client.post(reverse("audit:reports"), period)
    assert response.status_code == 302
    report = SamplingReport.objects.get()
    sampled = RecoveryCase.objects.filter(samplings__report=report)
    assert sampled.count() == RecoveryCase.objects.filter(state__in=CLOSED).count()
    assert not sampled.filter(state__in=RecoveryCase.OPEN_STATES).exists()
    today = seeded.strftime("%-d %b %Y")
    for case in sampled:
        page = client.get(reverse("audit:sampled_case", args=[report.pk, case.pk])
                          ).content.decode()
        timeline = page.split("Timeline from the audit trail", 1)[1].split("</ol>", 1)[0]
        dates = re.findall(r"<li><time datetime=\"[^\"]+\">(\d{1,2} \w{3} \d{4}),", timeline)
        assert dates and today not in dates, case
        assert "Case opened" in timeline and "case_opened" not in timeline
        steps = page.split("Verification steps and evidence", 1)[1].split("</section>", 1)[0]
        if case.evidence.exists():
            assert "Passed by" in steps or "Failed by" in steps, case

    response = client.post(reverse("audit:reports"), {**period, "include_open": "on",
                                                      "title": "With open cases"})
    assert response.status_code == 302
    with_open = SamplingReport.objects.get(include_open=True)
    assert RecoveryCase.objects.filter(samplings__report=with_open,
                                       state__in=RecoveryCase.OPEN_STATES).exists()


def test_demo_people_come_from_a_csv_import_run_and_show_their_source(seeded, client):
    from accounts.models import Identity
    from recovery_console.directory.models import SyncRun

    run = SyncRun.objects.get()
    assert (run.status, run.source.kind, run.file_name) == ("succeeded", "csv", "hr-export.csv")
    assert run.started_by.username == "secadmin" and run.created == 0 and run.changed >= 30
    for change in run.preview["changes"]:  # taken over as they are: nothing else changed
        assert change["adopt"] and not change["fields"] and not change["relations"], change
        assert {c["action"] for c in change["channels"]} <= {"claim"}, change
    employee = Identity.objects.get(directory_id="emp-000")
    assert employee.directory_source == run.source and employee.external_id == "emp-000"
    assert employee.channels.filter(from_directory=True).count() == 2
    assert Identity.objects.get(directory_id="staff-agent").directory_source is None
    sign_in_client(client, User.objects.get(username="secadmin"))
    page = client.get(reverse("admin:accounts_identity_changelist")).content.decode()
    assert "HR export (demo) (CSV import)" in page and "Typed in the console" in page
    call_command("seed_recovery_demo")
    assert SyncRun.objects.count() == 1


def test_the_demo_rollout_has_a_wave_at_each_stage_played_through_its_decisions(seeded, client):
    from recovery_console.rollout.models import ReadinessSnapshot, Wave

    waves = Wave.objects.order_by("position")
    assert [wave.stage for wave in waves] == ["done", "enforce", "report_only", "invite", "pilot"]
    assert all(wave.stage_since < seeded for wave in waves)
    assert Wave.objects.get(stage="invite").invitations.exists()
    moves = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Wave),
        additional_data__event="rollout_wave_moved").count()
    assert moves == 4 + 3 + 2 + 1
    # The trend has a point a week for eight weeks, and today's.
    assert ReadinessSnapshot.objects.filter(cohort__isnull=True).count() == 9
    sign_in_client(client, User.objects.get(username="secadmin"))
    page = client.get(f"/rollout/waves/{waves[1].pk}/")
    assert page.status_code == 200 and "Enforce" in page.content.decode()


def test_the_demo_has_an_outsourced_first_line_that_sees_no_privileged_person(seeded, client):
    first, internal = (Team.objects.get(name="First line (outsourced)"),
                       Team.objects.get(name="Internal service desk"))
    assert (first.serves, first.highest_tier, first.escalates_to) == (
        ["employee", "contractor"], "medium", internal)
    assert list(first.members.values_list("username", flat=True)) == ["agent"]
    assert list(internal.members.values_list("username", flat=True)) == ["agent2"]
    privileged = RecoveryCase.objects.filter(identity__privileged=True)
    assert privileged.exists() and not privileged.filter(team=first).exists()
    assert not RecoveryCase.objects.filter(team=None).exists()  # every case has its team
    sign_in_client(client, User.objects.get(username="agent"))
    page = client.get(reverse("recovery:queue"), {"status": "all"}).content.decode()
    for case in privileged:
        assert case.identity.display_name not in page
        assert client.get(reverse("recovery:case", args=[case.pk])).status_code == 404
    sign_in_client(client, User.objects.get(username="agent2"))
    page = client.get(reverse("recovery:queue")).content.decode()
    for case in privileged.filter(state__in=RecoveryCase.OPEN_STATES):
        assert case.identity.display_name in page
