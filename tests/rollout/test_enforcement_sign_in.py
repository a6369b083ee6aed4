"""The portal's sign-in without a passkey (password + authenticator code),
and what the passkey rollout does to it: nothing before report-only, a
record in report-only, a refusal pointing to recovery once a wave enforces
(unless an exception excuses the person), and never anything to a passkey."""

import json
from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts import ratelimit
from recovery_console import clock
from recovery_console.rollout import enforcement
from recovery_console.rollout.models import WaveException, WouldRefuse
from tests.factories import IdentityFactory, UserFactory, current_totp, staff
from tests.sessions import passkey_for

from .support import PASSWORD_SIGN_IN, person, sign_in_with_password, wave_for

pytestmark = pytest.mark.django_db

PASSKEYS = reverse("accounts:passkeys")
RECOVER = reverse("recovery:self_service")
GENERIC = "the username, password and authenticator code do not match"


def events(name):
    return LogEntry.objects.filter(additional_data__event=name)


def assert_signed_out(client):
    response = client.get(PASSKEYS)
    assert response.status_code == 302 and response.url.startswith(reverse(
        "accounts:portal_sign_in"))


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_the_passkey_sign_in_page_offers_the_password_sign_in(client):
    page = client.get(reverse("accounts:portal_sign_in"))
    assert PASSWORD_SIGN_IN in page.content.decode()
    form = client.get(PASSWORD_SIGN_IN)
    assert form.status_code == 200
    assert "Authenticator code" in form.content.decode()


def test_a_person_without_a_passkey_signs_in_with_password_and_code(client):
    someone = person()
    response = sign_in_with_password(client, someone)
    assert response.status_code == 302 and response.url == PASSKEYS
    assert client.get(PASSKEYS).status_code == 200  # an OTP-verified session
    entry = events("sign_in").get()
    assert entry.actor == someone.user and entry.additional_data["method"] == "password+totp"
    assert not WouldRefuse.objects.exists()


def test_a_wave_before_report_only_changes_nothing(client):
    someone = person()
    wave_for("Finance", "invite")
    assert sign_in_with_password(client, someone).status_code == 302
    assert not WouldRefuse.objects.exists()


def test_a_member_of_an_enforcing_wave_is_refused_and_pointed_to_recovery(client):
    someone = person()
    wave = wave_for("Finance", "enforce")
    response = sign_in_with_password(client, someone)
    assert response.status_code == 403
    html = response.content.decode()
    assert "requires a passkey to sign in" in html
    assert f'href="{RECOVER}"' in html and "Ask the service desk to restore your access" in html
    assert_signed_out(client)
    refusal = events("sign_in_refused").get()
    assert refusal.additional_data["reason"] == "passkey_required"
    assert refusal.additional_data["wave"] == wave.pk
    # Their factors were right: nothing counts against the account.
    assert ratelimit.count(ratelimit.SIGN_IN, someone.user.username) == 0
    assert not WouldRefuse.objects.exists()


def test_a_done_wave_still_requires_a_passkey_of_its_members(client):
    someone = person()
    wave_for("Finance", "done")
    response = sign_in_with_password(client, someone)
    assert response.status_code == 403
    assert "requires a passkey to sign in" in response.content.decode()
    assert_signed_out(client)


def test_someone_outside_the_enforcing_wave_signs_in(client):
    wave_for("Finance", "enforce")
    assert sign_in_with_password(client, person("Sales")).status_code == 302


def test_an_open_exception_lets_the_member_in_until_it_expires_or_ends(client):
    excused, expired, ended = person(), person(), person()
    wave = wave_for("Finance", "enforce")
    admin = staff("security_admin")
    now = clock.now()
    for who, expires, ended_at in ((excused, now + timedelta(days=3), None),
                                   (expired, now - timedelta(minutes=1), None),
                                   (ended, now + timedelta(days=3), now)):
        WaveException.objects.create(wave=wave, identity=who, stage="enforce", owner=admin,
                                     reason="Travelling", expires_at=expires,
                                     created_by=admin, ended_at=ended_at)

    assert sign_in_with_password(client, excused).status_code == 302
    for who in (expired, ended):
        assert sign_in_with_password(client, who).status_code == 403
    assert not WouldRefuse.objects.exists()


def test_report_only_lets_the_member_in_and_records_who_when_and_why(client, monkeypatch):
    someone, outsider = person(), person("Sales")
    wave = wave_for("Finance", "report_only")
    moment = clock.now() - timedelta(minutes=5)
    monkeypatch.setattr(clock, "now", lambda: moment)

    assert sign_in_with_password(client, someone).status_code == 302
    assert client.get(PASSKEYS).status_code == 200
    assert sign_in_with_password(client.__class__(), outsider).status_code == 302

    recorded = WouldRefuse.objects.get()
    assert (recorded.wave, recorded.identity, recorded.at, recorded.why) == (
        wave, someone, moment, WouldRefuse.Why.NO_PASSKEY)
    entry = events("would_refuse_recorded").get()
    assert entry.additional_data["waves"] == [wave.pk]


def test_an_exception_from_enforcement_also_keeps_report_only_from_recording(client):
    someone = person()
    wave = wave_for("Finance", "report_only")
    admin = staff("security_admin")
    WaveException.objects.create(wave=wave, identity=someone, stage="enforce", owner=admin,
                                 reason="Pilot tester", created_by=admin,
                                 expires_at=clock.now() + timedelta(days=1))
    assert sign_in_with_password(client, someone).status_code == 302
    assert not WouldRefuse.objects.exists()


def test_a_paused_enforcing_wave_lets_members_in_and_records_them(client):
    someone = person()
    wave = wave_for("Finance", "enforce", paused_at=clock.now(), paused_reason="Too many cases.")
    assert sign_in_with_password(client, someone).status_code == 302
    assert WouldRefuse.objects.get().wave == wave


def test_one_enforcing_wave_among_several_refuses(client):
    someone = person(kind="contractor")
    wave_for("Finance", "report_only")
    contractors = wave_for("Finance", "enforce")
    contractors.cohort.kind = "contractor"
    contractors.cohort.save()
    assert sign_in_with_password(client, someone).status_code == 403
    assert not WouldRefuse.objects.exists()


def test_a_wrong_password_never_tells_whether_the_person_is_in_an_enforcing_wave(client):
    member, outsider = person(), person("Sales")
    wave_for("Finance", "enforce")
    answers = [sign_in_with_password(client, member, password="not-the-password"),
               sign_in_with_password(client, outsider, password="not-the-password"),
               client.post(PASSWORD_SIGN_IN, {"username": "nobody-by-this-name",
                                              "password": "x", "otp_token": "123456"})]
    for response in answers:
        html = response.content.decode()
        assert response.status_code == 400
        assert GENERIC in html and "passkey to sign in" not in html and RECOVER in html
    # The one link to recovery every visitor sees, in the same place for all.
    assert len({r.content.decode().count(RECOVER) for r in answers}) == 1
    reasons = [e.additional_data["reason"] for e in events("sign_in_refused").order_by("pk")]
    assert reasons == ["bad_credentials"] * 3


def test_a_wrong_code_for_a_member_reads_the_same_as_for_anyone(client):
    member = person()
    wave_for("Finance", "enforce")
    response = sign_in_with_password(client, member, token=wrong(current_totp(member.user)))
    assert response.status_code == 400
    assert GENERIC in response.content.decode()
    assert events("sign_in_refused").get().additional_data["reason"] == "bad_second_factor"


def test_an_account_without_an_identity_cannot_use_the_portal_sign_in(client):
    agent = staff("agent")
    response = client.post(PASSWORD_SIGN_IN, {"username": agent.username,
                                              "password": "correct-horse-battery-9",
                                              "otp_token": current_totp(agent)})
    assert response.status_code == 400 and GENERIC in response.content.decode()
    assert events("sign_in_refused").get().additional_data["reason"] == "no_identity"


def test_the_portal_sign_in_is_throttled_like_the_staff_sign_in(client, settings):
    settings.SIGN_IN_MAX_FAILURES_PER_ACCOUNT = 2
    member = person()
    for _ in range(2):
        sign_in_with_password(client, member, password="guess")
    response = sign_in_with_password(client, member)
    assert response.status_code == 400
    assert "Too many failed sign-ins" in response.content.decode()
    assert_signed_out(client)


def test_a_passkey_sign_in_is_never_refused_by_enforcement(client):
    member = person()
    wave_for("Finance", "enforce")
    _, soft = passkey_for(member.user)
    options = client.post(reverse("accounts:passkey_sign_in_options"), "{}",
                          content_type="application/json").json()
    response = client.post(reverse("accounts:passkey_sign_in_verify"),
                           json.dumps({"credential": soft.get(options)}),
                           content_type="application/json")
    assert response.status_code == 200
    assert client.get(PASSKEYS).status_code == 200
    assert not events("sign_in_refused").exists() and not WouldRefuse.objects.exists()


def test_where_a_person_stands_costs_two_queries_whatever_the_number_of_waves():
    member = person()
    for n in range(12):
        wave_for("Finance" if n % 2 else f"Dept {n}", "report_only" if n % 3 else "enforce")
    for _ in range(5):
        wave_for("Finance", "invite")  # not watching sign-ins: never looked at
    with CaptureQueriesContext(connection) as queries:
        found = enforcement.standing(member.user, clock.now())
    assert len(queries) == 2
    assert found.refusing and found.recording
    assert found.identity_id == member.pk

    nobody_watches = UserFactory()
    IdentityFactory(user=nobody_watches)
    with CaptureQueriesContext(connection) as queries:
        enforcement.standing(nobody_watches, clock.now())
    assert len(queries) == 2
