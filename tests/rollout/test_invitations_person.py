"""The invited person's side, through HTTP: their status page, the snooze
(limited), the enrolment link (single use, short lived, theirs only, never
instead of signing in), and enrolling, which marks the invitation."""

import json
import re
from urllib.parse import quote

import pytest
from auditlog.models import LogEntry
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from recovery_console import clock
from recovery_console.ops.logs import redact
from recovery_console.rollout import invitations
from recovery_console.rollout.models import EnrolmentLink, Invitation
from tests.factories import RecoveryChannelFactory, staff
from tests.sessions import sign_in_client
from tests.soft_authenticator import SoftAuthenticator

from .support import days, link_token, member, passkey_of, wave_of

pytestmark = pytest.mark.django_db

# Today: a link's deadline also holds by the database's clock.
T0 = timezone.now().replace(microsecond=0)


def day(moment, fmt: str = "j F Y") -> str:
    return date_format(timezone.localtime(moment), fmt)
MY_ROLLOUT = reverse("invitations:my_rollout")


@pytest.fixture
def at(monkeypatch):
    def travel(moment):
        monkeypatch.setattr(clock, "now", lambda: moment)
        return moment
    return travel


@pytest.fixture
def invited(at):
    """A wave of the Finance cohort invited at T0, and its member Pat."""
    at(T0)
    wave = wave_of(snooze_limit=2)
    pat = member()
    invitations.invite(wave, staff("security_admin"))
    return pat


def enrol_link(token):
    return reverse("invitations:enrolment_link", args=[token])


def link_of(person):
    return EnrolmentLink.objects.get(invitation__identity=person, voided_at__isnull=True)


def text(response):
    return " ".join(response.content.decode().split())


def words(response):
    """The page as read: tags dropped."""
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


# --- the snooze ----------------------------------------------------------------------

def test_the_person_puts_off_enrolling_at_most_as_often_as_the_plan_allows(client, invited, at):
    invitation = Invitation.objects.get(identity=invited)
    snooze = reverse("invitations:snooze", args=[invitation.pk])
    sign_in_client(client, invited.user)
    page = text(client.get(MY_ROLLOUT))
    assert "Snoozes left</dt><dd>2 of 2" in page and snooze in page and "Snooze for 3 days" in page

    at(T0 + days(1))
    response = client.post(snooze, follow=True)
    assert f"Put off: no reminders until {day(T0 + days(4))}" in text(response)
    assert "Snoozes left</dt><dd>1 of 2" in text(response)
    at(T0 + days(5))
    assert client.post(snooze).status_code == 302

    response = client.post(snooze)
    assert response.status_code == 409
    assert "You have put this off 2 times, the most allowed" in text(response)
    assert snooze not in response.content.decode()  # the button is gone too
    invitation.refresh_from_db()
    assert invitation.snoozes_used == 2 and invitation.snoozed_until == T0 + days(8)
    refusal = LogEntry.objects.get(additional_data__event="invitation_snooze_refused")
    assert refusal.actor == invited.user and refusal.additional_data["reason"] == "snooze_limit"


def test_nobody_snoozes_someone_elses_invitation(client, invited):
    invitation = Invitation.objects.get(identity=invited)
    sign_in_client(client, member().user)
    assert client.post(reverse("invitations:snooze", args=[invitation.pk])).status_code == 404
    assert Invitation.objects.get().snoozes_used == 0


def test_no_snooze_past_the_deadline(client, invited, at):
    at(T0 + days(15))
    sign_in_client(client, invited.user)
    invitation = Invitation.objects.get()
    response = client.post(reverse("invitations:snooze", args=[invitation.pk]))
    assert response.status_code == 409 and "deadline" in text(response)


# --- the enrolment link ----------------------------------------------------------------

def test_the_link_sends_someone_not_signed_in_to_the_portal_sign_in_and_back(client, invited):
    token = link_token(invited)
    response = client.get(enrol_link(token))
    assert response.status_code == 302
    assert response.url == f"{reverse('accounts:portal_sign_in')}?next={quote(enrol_link(token))}"
    assert link_of(invited).used_at is None


def test_the_link_leads_its_person_to_enrolment_once(client, invited, at):
    token = link_token(invited)
    sign_in_client(client, invited.user)
    at(T0 + days(1))

    response = client.get(enrol_link(token))

    assert response.status_code == 302 and response.url == reverse("accounts:passkey_add")
    assert link_of(invited).used_at == T0 + days(1)
    assert LogEntry.objects.filter(additional_data__event="enrolment_link_used",
                                   actor=invited.user).exists()
    again = client.get(enrol_link(token))
    assert again.status_code == 400
    assert "This link was already used: each link works once." in text(again)


def test_someone_elses_link_is_refused_and_stays_usable(client, invited):
    token = link_token(invited)
    sign_in_client(client, member().user)

    response = client.get(enrol_link(token))

    assert response.status_code == 403
    assert "This link was sent to someone else" in text(response)
    assert invited.display_name not in text(response)
    assert link_of(invited).used_at is None
    refusal = LogEntry.objects.get(additional_data__event="enrolment_link_use_refused")
    assert refusal.additional_data["reason"] == "not_yours"


def test_a_dead_link_says_so_without_saying_whose_it_was(client, invited, at):
    token = link_token(invited)
    stranger = member()
    sign_in_client(client, stranger.user)
    at(T0 + days(3.01))  # past its 72 hours

    expired = client.get(enrol_link(token))
    assert expired.status_code == 400 and "This link has expired." in text(expired)
    assert invited.display_name not in text(expired)

    at(T0 + days(3))
    invitations.send_reminders()  # a newer link voids this one
    sign_in_client(client, invited.user)
    voided = client.get(enrol_link(token))
    assert voided.status_code == 400 and "A newer reminder replaced this link." in text(voided)
    assert client.get(enrol_link("not-a-link")).status_code == 404


def test_the_links_token_never_reaches_the_logs(invited):
    token = link_token(invited)
    assert token not in redact(f"GET {enrol_link(token)} 302")


# --- enrolling ---------------------------------------------------------------------------

def test_registering_a_passkey_marks_the_persons_invitations_enrolled(client, invited, at):
    sign_in_client(client, invited.user)
    at(T0 + days(2))
    assert client.get(enrol_link(link_token(invited))).url == reverse("accounts:passkey_add")
    soft = SoftAuthenticator()
    options = client.post(reverse("accounts:passkey_register_options")).json()
    response = client.post(reverse("accounts:passkey_register_verify"),
                           json.dumps({"credential": soft.create(options), "name": "Phone"}),
                           content_type="application/json")
    assert response.status_code == 200

    invitation = Invitation.objects.get()
    assert invitation.enrolled_at == T0 + days(2)
    assert not EnrolmentLink.objects.live().exists()
    assert LogEntry.objects.filter(additional_data__event="invitation_enrolled",
                                   actor=invited.user).count() == 1
    page = text(client.get(MY_ROLLOUT))
    assert "You have a passkey." in page and "Phone" in page
    assert "Snooze" not in page


# --- the status page -----------------------------------------------------------------

def test_the_status_page_shows_the_deadline_snoozes_passkeys_and_channels_that_would_recover(
        client, invited, at, django_assert_max_num_queries):
    RecoveryChannelFactory(identity=invited, kind="phone", address="+44 7700 900123",
                           changed_at=T0 - days(2))
    RecoveryChannelFactory(identity=invited, kind="email", address="old@example.org",
                           last_confirmed_at=T0 - days(400))
    sign_in_client(client, invited.user)
    at(T0 + days(1))

    with django_assert_max_num_queries(15):
        response = client.get(MY_ROLLOUT)

    page = words(response)
    assert "You have no passkey yet." in page and f"Deadline {day(T0 + days(14), 'j M Y')}," in page
    assert "Snoozes left 2 of 2" in page and "Enrol a passkey" in page
    assert reverse("accounts:passkey_add") in text(response)
    assert "Email p***@example.org Yes" in page
    assert "Phone (SMS/voice) ***123 No — Changed in the last 7 days" in page
    assert "Email o***@example.org No — Not confirmed in the last " in page
    assert "No channel would be used" not in page
    assert "old@example.org" not in page and "900123" not in page
    # The portal notice, without the link the email carries.
    assert f"You are invited to set up a passkey by {day(T0 + days(14))}" in page
    assert "/my/enrol/" not in page


def test_someone_with_a_passkey_and_no_invitation_sees_they_are_set(client):
    person = member()
    passkey_of(person)
    sign_in_client(client, person.user)
    page = text(client.get(MY_ROLLOUT))
    assert "You have a passkey." in page and "No messages." in page
