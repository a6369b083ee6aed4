"""After a recovery: every channel is told, with a way to say "this wasn't
me"; follow-on activity in the watch period raises alerts; stale channels are
flagged and revoked in bulk."""

import json
import re
from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY

from accounts.models import PasskeyCredential, RecoveryChannel
from recovery_console import channels, outbox, workflow
from recovery_console.models import Alert, Notice, RecoveryCase
from tests.factories import RecoveryChannelFactory, recovery_case, staff
from tests.sessions import sign_in_client
from tests.soft_authenticator import SoftAuthenticator

from .support import approved, redeeming

pytestmark = pytest.mark.django_db
State = RecoveryCase.State


def post_json(client, url, payload=None):
    return client.post(url, json.dumps(payload or {}), content_type="application/json")


def recover(case, agent, client=None, address="198.51.100.7"):
    """Redeem an issued credential and enrol a passkey through HTTP."""
    client = client or Client(REMOTE_ADDR=address)
    issued = workflow.issue_credential(case, agent)
    client.post(reverse("recovery:redeem", args=[issued.credential.handle]),
                redeeming(issued.code))
    options = post_json(client, reverse("recovery:enrol_options")).json()
    soft = SoftAuthenticator()
    response = post_json(client, reverse("recovery:enrol_verify"),
                         {"credential": soft.create(options), "name": "New phone"})
    assert response.status_code == 200, response.content
    case.refresh_from_db()
    assert case.state == State.COMPLETED
    return PasskeyCredential.objects.get(user=case.identity.user, revoked_at__isnull=True)


@pytest.fixture
def completed(agent, settings):
    settings.WEBAUTHN_ORIGINS = ["http://localhost:8000"]
    case = approved(recovery_case("low", agent=agent), agent)
    old_email = RecoveryChannelFactory(identity=case.identity, kind="email")
    return case, recover(case, agent), old_email


def not_me_token(case):
    notice = Notice.objects.filter(case=case, event="recovery_completed",
                                   identity=case.identity, channel__isnull=False).first()
    return re.search(r"/recover/not-me/([\w-]+)/", notice.body).group(1)


def test_the_subject_is_told_on_every_channel_with_a_way_to_say_it_wasnt_them(completed):
    case, _, old_email = completed
    to_subject = Notice.objects.filter(case=case, event="recovery_completed",
                                       identity=case.identity, channel__isnull=False)
    channel_ids = set(case.identity.channels.filter(revoked_at__isnull=True)
                      .values_list("pk", flat=True))
    assert set(to_subject.values_list("channel_id", flat=True)) == channel_ids
    assert old_email.pk in channel_ids
    assert all("This wasn't me: http" in n.body for n in to_subject)
    manager = Notice.objects.filter(case=case, event="recovery_completed",
                                    identity=case.identity.manager)
    assert manager.exists() and not any("not-me" in n.body for n in manager)
    assert Notice.objects.filter(case=case, medium="monitoring",
                                 event="recovery_completed").exists()


def test_this_wasnt_me_freezes_the_new_passkey_and_opens_an_urgent_case(client, completed):
    case, passkey, _ = completed
    url = reverse("recovery:repudiate", args=[not_me_token(case)])
    assert client.get(url).status_code == 200
    passkey.refresh_from_db()
    assert passkey.revoked_at is None  # opening the link does nothing

    response = client.post(url)
    assert response.status_code == 200
    passkey.refresh_from_db()
    assert passkey.revoked_at is not None and not passkey.confirmed
    follow_up = RecoveryCase.objects.get(identity=case.identity, state=State.NEW)
    assert follow_up.high_priority and follow_up.tier in ("high", "restricted")
    assert follow_up.source == RecoveryCase.Source.REPUDIATION
    alert = Alert.objects.get(kind=Alert.Kind.REPUDIATED)
    assert alert.case == case
    assert Notice.objects.filter(medium="monitoring", event="alert_repudiated").exists()

    again = client.post(url)
    assert again.status_code == 400 and "already used" in again.content.decode()
    assert RecoveryCase.objects.filter(identity=case.identity).count() == 2


def test_an_unknown_not_me_link_changes_nothing(client, completed):
    response = client.post(reverse("recovery:repudiate", args=["forged-token"]))
    assert response.status_code == 400
    assert not Alert.objects.exists()


def test_another_recovery_request_in_the_watch_period_raises_an_alert(completed):
    case, _, _ = completed
    workflow.open_case(case.identity, source=RecoveryCase.Source.DESK, actor=staff("agent"))
    alert = Alert.objects.get(kind=Alert.Kind.SECOND_RECOVERY)
    assert alert.identity == case.identity and alert.case == case


def test_no_alert_once_the_watch_period_is_over(completed):
    case, _, _ = completed
    RecoveryCase.objects.filter(pk=case.pk).update(watch_until=timezone.now())
    workflow.open_case(case.identity, source=RecoveryCase.Source.DESK, actor=staff("agent"))
    assert not Alert.objects.filter(kind=Alert.Kind.SECOND_RECOVERY).exists()


def test_a_second_passkey_in_the_watch_period_raises_an_alert(client, completed):
    case, passkey, _ = completed
    sign_in_client(client, case.identity.user, device=passkey)
    options = post_json(client, reverse("accounts:passkey_register_options")).json()
    response = post_json(client, reverse("accounts:passkey_register_verify"),
                         {"credential": SoftAuthenticator().create(options)})
    assert response.status_code == 200
    assert Alert.objects.filter(kind=Alert.Kind.PASSKEY_ENROLMENT,
                                identity=case.identity).exists()


def test_a_channel_change_in_the_watch_period_raises_an_alert(client, completed):
    case, _, old_email = completed
    admin = staff("security_admin", is_staff=True, is_superuser=True)
    client.force_login(admin)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = admin.totpdevice_set.get().persistent_id
    session.save()
    url = reverse("admin:accounts_recoverychannel_change", args=[old_email.pk])
    response = client.post(url, {
        "identity": case.identity.pk, "kind": "email", "address": "new@evil.example",
        "verified_at_0": "2026-01-01", "verified_at_1": "00:00:00",
        "last_confirmed_at_0": "2026-01-01", "last_confirmed_at_1": "00:00:00",
        "changed_at_0": "2026-01-01", "changed_at_1": "00:00:00",
    })
    assert response.status_code == 302, response.content[:2000]
    assert Alert.objects.filter(kind=Alert.Kind.CHANNEL_CHANGE).exists()
    old_email.refresh_from_db()
    assert old_email.changed_at > timezone.now() - timedelta(minutes=1)


def test_a_redemption_from_a_new_network_in_the_watch_period_raises_an_alert(agent, completed):
    case, _, _ = completed
    RecoveryCase.objects.filter(pk=case.pk).update(watch_until=timezone.now() + timedelta(days=1))
    second = workflow.open_case(case.identity, source=RecoveryCase.Source.DESK,
                                actor=staff("agent"))
    workflow.claim(second, agent)
    supervisors = [staff("supervisor"), staff("supervisor")]
    approved(second, agent, *supervisors)
    recover(second, agent, address="203.0.113.50")
    alert = Alert.objects.get(kind=Alert.Kind.NEW_NETWORK)
    assert "203.0.113.0/24" in alert.detail


def test_stale_channels_are_flagged_daily_and_audited():
    fresh = RecoveryChannelFactory()
    stale = RecoveryChannelFactory(last_confirmed_at=timezone.now() - timedelta(days=800))
    assert channels.mark_stale() == 1
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.stale_since is not None and fresh.stale_since is None
    assert LogEntry.objects.filter(additional_data__event="channel_marked_stale",
                                   object_pk=str(stale.pk)).exists()
    assert channels.mark_stale() == 0  # already flagged


def test_a_security_admin_revokes_stale_channels_in_bulk(client):
    stale = [RecoveryChannelFactory(last_confirmed_at=timezone.now() - timedelta(days=800))
             for _ in range(3)]
    channels.mark_stale()
    admin = staff("security_admin")
    sign_in_client(client, admin)
    page = client.get(reverse("recovery:stale_channels"))
    assert page.status_code == 200 and page.content.decode().count('name="channel"') == 3
    response = client.post(reverse("recovery:stale_channels"),
                           {"channel": [stale[0].pk, stale[1].pk], "reason": "Left in 2023."})
    assert response.status_code == 302
    assert RecoveryChannel.objects.filter(revoked_at__isnull=False).count() == 2
    entries = LogEntry.objects.filter(additional_data__event="channel_revoked")
    assert entries.count() == 2 and all(e.actor == admin for e in entries)


@pytest.mark.parametrize("data, message", [
    ({"reason": "Left in 2023."}, "Choose at least one channel"),
    ({"channel": ["abc"], "reason": "Left in 2023."}, "not understood"),
])
def test_bad_bulk_revocations_change_nothing(client, data, message):
    RecoveryChannelFactory(last_confirmed_at=timezone.now() - timedelta(days=800))
    channels.mark_stale()
    sign_in_client(client, staff("security_admin"))
    response = client.post(reverse("recovery:stale_channels"), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not RecoveryChannel.objects.filter(revoked_at__isnull=False).exists()


def test_a_live_channel_cannot_be_revoked_through_the_stale_page(client):
    live = RecoveryChannelFactory()
    sign_in_client(client, staff("security_admin"))
    response = client.post(reverse("recovery:stale_channels"),
                           {"channel": [live.pk], "reason": "Left in 2023."})
    assert response.status_code == 400
    live.refresh_from_db()
    assert live.revoked_at is None


@pytest.mark.parametrize("role", ["agent", "supervisor", "auditor"])
def test_only_security_admins_see_alerts_and_revoke_channels(client, role):
    sign_in_client(client, staff(role))
    assert client.get(reverse("recovery:alerts")).status_code == 403
    assert client.post(reverse("recovery:stale_channels"), {"channel": [1]}).status_code == 403


def test_a_security_admin_acknowledges_an_alert_once(client, completed):
    case, _, _ = completed
    workflow.open_case(case.identity, source=RecoveryCase.Source.DESK, actor=staff("agent"))
    alert = Alert.objects.get(kind=Alert.Kind.SECOND_RECOVERY)
    sign_in_client(client, staff("security_admin"))
    assert "Another recovery request" in client.get(reverse("recovery:alerts")).content.decode()
    url = reverse("recovery:alerts_acknowledge")
    assert client.post(url, {"alert": [alert.pk]}).status_code == 302
    alert.refresh_from_db()
    assert alert.acknowledged_at is not None
    assert client.post(url, {"alert": [alert.pk]}).status_code == 409
    assert LogEntry.objects.filter(additional_data__event="alert_acknowledged").count() == 1


def test_a_delivered_code_is_not_kept_in_the_outbox(settings, agent):
    settings.REDACT_DELIVERED_SECRETS = True
    case = approved(recovery_case("low", agent=agent), agent)
    code_notice = Notice.objects.filter(case=case, carries_secret=True).first()
    assert re.search(r"\d{6}", code_notice.body)
    outbox.deliver(code_notice.pk)
    code_notice.refresh_from_db()
    assert code_notice.sent_at is not None and code_notice.body == outbox.REDACTED
    plain = Notice.objects.filter(case=case, carries_secret=False, medium="email").first()
    outbox.deliver(plain.pk)
    plain.refresh_from_db()
    assert plain.body != outbox.REDACTED


def test_a_repudiated_recovery_goes_to_the_top_of_the_queue(client, completed):
    case, _, _ = completed
    older = recovery_case("low")
    RecoveryCase.objects.filter(pk=older.pk).update(opened_at=timezone.now() - timedelta(days=1))
    client.post(reverse("recovery:repudiate", args=[not_me_token(case)]))
    urgent = RecoveryCase.objects.get(identity=case.identity, state=State.NEW)
    sign_in_client(client, staff("agent"))
    page = client.get(reverse("recovery:queue")).content.decode()
    assert page.index(f"/cases/{urgent.pk}/") < page.index(f"/cases/{older.pk}/")
    assert "Urgent: repudiated" in page
