"""Inviting a wave's members to enrol a passkey, reminding them on a
schedule, and the wave page's counts: through HTTP where a person acts,
the workflow directly for the beat task and its schedule."""

from datetime import datetime

import pytest
from auditlog.models import LogEntry
from django.conf import settings as django_settings
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from recovery_console import clock, outbox
from recovery_console.models import Notice
from recovery_console.rollout import invitations
from recovery_console.rollout.models import EnrolmentLink, Invitation, Wave, WaveException
from recovery_console.rollout.tasks import send_enrolment_reminders
from tests.factories import staff
from tests.sessions import sign_in_client

from .support import days, link_token, member, passkey_of, wave_of

pytestmark = pytest.mark.django_db

T0 = datetime.fromisoformat("2026-03-02T09:00:00+00:00")


@pytest.fixture
def admin(client):
    user = staff("security_admin")
    sign_in_client(client, user)
    return user


@pytest.fixture
def at(monkeypatch):
    """Set the workflow's clock: ``at(moment)``."""
    def travel(moment):
        monkeypatch.setattr(clock, "now", lambda: moment)
        return moment
    return travel


def invite_over_http(client, wave, back="/rollout/waves/1/"):
    return client.post(reverse("invitations:invite", args=[wave.pk]), {"next": back})


def events(name):
    return LogEntry.objects.filter(additional_data__event=name)


def test_inviting_a_wave_asks_each_member_by_email_with_a_link_and_on_the_portal(
        client, admin, at):
    at(T0)
    wave = wave_of()
    asked = [member(), member()]
    no_email = member(email=False)
    has_passkey = member()
    passkey_of(has_passkey)
    excused = member()
    WaveException.objects.create(wave=wave, identity=excused, stage=Wave.Stage.INVITE,
                                 owner=admin, created_by=admin, reason="On leave",
                                 expires_at=T0 + days(30))
    member(is_active=False)  # has left: not a member

    response = invite_over_http(client, wave)

    assert response.status_code == 302 and response.url == "/rollout/waves/1/"
    invited = Invitation.objects.filter(wave=wave)
    assert {i.identity for i in invited} == {*asked, no_email}
    assert {i.enrol_by for i in invited} == {T0 + wave.plan.invite_period}
    emails = Notice.objects.filter(medium=Notice.Medium.EMAIL, event="enrolment_invitation")
    assert {n.identity for n in emails} == set(asked)
    for notice in emails:
        assert notice.carries_secret and notice.channel.identity == notice.identity
        assert notice.sent_at is None  # the outbox delivers it
        assert "/my/enrol/" in notice.body and "16 March 2026" in notice.subject
    portal = Notice.objects.filter(medium=Notice.Medium.PORTAL)
    assert {n.identity for n in portal} == {*asked, no_email}
    assert all(n.sent_at == T0 and "/my/enrol/" not in n.body for n in portal)
    links = EnrolmentLink.objects.filter(invitation__wave=wave)
    assert links.count() == 3 and {link.expires_at for link in links} == {T0 + days(3)}
    assert events("invitation_sent").filter(actor=admin).count() == 3
    summary = events("wave_invited").get()
    assert summary.actor == admin and summary.additional_data["invited"] == 3
    assert summary.additional_data["with_passkey"] == 1
    assert summary.additional_data["excepted"] == 1

    # Asking again asks only who was not asked yet.
    newcomer = member()
    invite_over_http(client, wave)
    assert set(Invitation.objects.filter(wave=wave).values_list("identity", flat=True)) == {
        *(i.pk for i in asked), no_email.pk, newcomer.pk}
    assert Notice.objects.filter(medium=Notice.Medium.EMAIL).count() == 3


def test_the_pilot_invites_only_its_named_sample(client, admin):
    wave = wave_of(stage=Wave.Stage.PILOT)
    sample, _other = member(), member()
    wave.pilot_members.add(sample)

    invite_over_http(client, wave)

    assert list(Invitation.objects.values_list("identity", flat=True)) == [sample.pk]


def test_a_paused_wave_invites_nobody(client, admin, at):
    wave = wave_of()
    wave.paused_at, wave.paused_reason = at(T0), "Too many recoveries"
    wave.save()
    member()

    response = invite_over_http(client, wave)

    assert response.status_code == 409
    assert "paused: it invites nobody" in response.content.decode()
    assert not Invitation.objects.exists() and not Notice.objects.exists()
    refusal = events("wave_invite_refused").get()
    assert refusal.actor == admin and refusal.additional_data["reason"] == "wave_paused"


def test_only_a_security_admin_invites_a_wave(client):
    wave = wave_of()
    member()
    sign_in_client(client, staff("supervisor"))

    assert invite_over_http(client, wave).status_code == 403
    agent = staff("agent")
    with pytest.raises(invitations.WorkflowError) as refused:
        invitations.invite(wave, agent)
    assert refused.value.reason == "not_security_admin"
    assert not Invitation.objects.exists()


def _queries_to_invite(admin, members: int) -> int:
    """Queries to invite a new wave of the cohort, with ``members`` more first."""
    wave = wave_of()
    for _ in range(members):
        member()
    with CaptureQueriesContext(connection) as queries:
        invited = invitations.invite(wave, admin)
    assert invited.invited == Invitation.objects.filter(wave=wave).count() >= members
    return len(queries)


def test_inviting_takes_as_many_queries_for_forty_members_as_for_four():
    admin = staff("security_admin")
    _queries_to_invite(admin, 1)  # the role and content types, cached from now on
    assert _queries_to_invite(admin, 4) == _queries_to_invite(admin, 36)


def test_reminders_go_every_interval_with_a_fresh_link_until_the_deadline(client, admin, at):
    at(T0)
    wave = wave_of()  # invite period 14 days, reminders every 3
    person = member()
    invite_over_http(client, wave)
    first = link_token(person)

    at(T0 + days(2))
    assert send_enrolment_reminders() == 0
    at(T0 + days(3))
    assert send_enrolment_reminders() == 1
    assert send_enrolment_reminders() == 0  # once per interval, whatever beat's pace
    invitation = Invitation.objects.get()
    assert invitation.reminders_sent == 1 and invitation.last_reminded_at == T0 + days(3)
    reminder = Notice.objects.get(event="enrolment_reminder", medium=Notice.Medium.EMAIL)
    assert reminder.subject.startswith("Reminder: ") and link_token(
        person, "enrolment_reminder") != first
    old = EnrolmentLink.objects.order_by("pk").first()
    assert old.voided_at == T0 + days(3)
    assert EnrolmentLink.objects.live(T0 + days(3)).count() == 1

    reminded = []
    for n in range(4, 16):
        moment = at(T0 + days(n))
        if send_enrolment_reminders():
            reminded.append(moment)
    assert reminded == [T0 + days(6), T0 + days(9), T0 + days(12)]  # none past the deadline
    assert Invitation.objects.get().reminders_sent == 4
    assert events("invitation_reminded").count() == 4


def test_no_reminder_while_snoozed_enrolled_excused_or_paused(admin, at):
    at(T0)
    wave = wave_of()
    snoozing, enrolled, excused, waiting = member(), member(), member(), member()
    invitations.invite(wave, admin)
    invitations.snooze(Invitation.objects.get(identity=snoozing), snoozing.user,
                       T0 + days(1))  # until day 4
    passkey_of(enrolled)  # a passkey added outside the invitation still counts
    WaveException.objects.create(wave=wave, identity=excused, stage=Wave.Stage.INVITE,
                                 owner=admin, created_by=admin, reason="Travelling",
                                 expires_at=T0 + days(10))

    assert invitations.send_reminders(T0 + days(3)) == 1
    assert Invitation.objects.get(reminders_sent=1).identity == waiting
    # The snooze ran out on day 4: the next pass reminds them.
    assert invitations.send_reminders(T0 + days(4)) == 1
    assert Invitation.objects.get(identity=snoozing).reminders_sent == 1
    wave.paused_at = T0 + days(4)
    wave.save()
    assert invitations.send_reminders(T0 + days(9)) == 0


def test_the_wave_page_counts_invited_enrolled_snoozed_and_overdue_in_one_query(
        admin, at, rf, django_assert_num_queries):
    at(T0)
    wave = wave_of()
    snoozing, enrolling, _waiting = member(), member(), member()
    invitations.invite(wave, admin)
    invitations.snooze(Invitation.objects.get(identity=snoozing), snoozing.user)
    invitations.passkey_enrolled(enrolling.user)

    with django_assert_num_queries(1):
        now = invitations.invitation_counts(wave, T0 + days(1))
    assert now == invitations.InvitationCounts(invited=3, enrolled=1, snoozed=1, overdue=0)
    later = invitations.invitation_counts(wave, T0 + days(20))
    assert later == invitations.InvitationCounts(invited=3, enrolled=1, snoozed=0, overdue=2)

    request = rf.get("/rollout/waves/1/")
    html = render_to_string("rollout/_wave_invitations.html", {
        "wave": wave, "now": T0 + days(20), "is_security_admin": True, "request": request})
    text = " ".join(html.split())
    assert "<dt>Invited</dt><dd>3</dd>" in text and "<dt>Enrolled</dt><dd>1</dd>" in text
    assert 'class="badge overdue">2<' in text
    assert reverse("invitations:invite", args=[wave.pk]) in html


def test_the_invitation_emails_go_out_through_the_outbox_and_keep_no_link(
        admin, mailoutbox, settings, django_capture_on_commit_callbacks):
    settings.REDACT_DELIVERED_SECRETS = True
    wave = wave_of()
    people = [member(), member()]
    with django_capture_on_commit_callbacks() as queued:
        invitations.invite(wave, admin)
    assert len(queued) == 1  # one dispatch for the wave's emails, not one per member

    emails = list(Notice.objects.filter(medium=Notice.Medium.EMAIL).values_list("pk", flat=True))
    assert outbox.deliver_each(emails) == {"sent": 2}
    addresses = {p.channels.get(kind="email").address for p in people}
    assert {message.to[0] for message in mailoutbox} == addresses
    assert all("/my/enrol/" in message.body for message in mailoutbox)
    assert set(Notice.objects.filter(pk__in=emails).values_list("body", flat=True)) == {
        outbox.REDACTED}


def test_beat_sends_the_reminders_through_a_registered_task():
    from recovery_console.celery import app

    entry = django_settings.CELERY_BEAT_SCHEDULE["send-enrolment-reminders"]
    assert entry["task"] == send_enrolment_reminders.name and entry["task"] in app.tasks
