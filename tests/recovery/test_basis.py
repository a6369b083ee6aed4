"""A recovery credential, and the recovery session it opens, rest on facts:
the identity is active, the channel it went to is usable and unchanged, the
case is still in the state that issued it, nobody answered "this wasn't me".
When one changes, by whatever path, they die at once (audited, the subject
and monitoring told); and redemption and enrolment check the facts again at
use, so a path that forgot to void still restores nothing."""

import json
import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Identity, PasskeyCredential, RecoveryChannel
from recovery_console import workflow
from recovery_console.models import (
    Notice,
    RecoveryCase,
    RecoveryCredential,
    RecoveryPolicy,
    RecoverySession,
)
from tests import admin_forms
from tests.factories import recovery_case, staff
from tests.services import race
from tests.sessions import sign_in_client
from tests.soft_authenticator import SoftAuthenticator

from .support import approved, channel_of, events, refusals

pytestmark = pytest.mark.django_db
State = RecoveryCase.State


def post_json(client, url, payload=None):
    return client.post(url, json.dumps(payload or {}), content_type="application/json")


@dataclass
class World:
    case: RecoveryCase
    agent: object
    email: RecoveryChannel
    credential: RecoveryCredential
    code: str
    not_me: str  # the "this wasn't me" link of the identity's earlier recovery

    @property
    def identity(self) -> Identity:
        return self.case.identity


def redeem(client, world):
    return client.post(reverse("recovery:redeem", args=[world.credential.handle]),
                       {"code": world.code, "passkeys": "supported"})


def enrol(client, name="Second"):
    """The passkey ceremony of the enrolment page, with a software authenticator."""
    options = post_json(client, reverse("recovery:enrol_options"))
    if options.status_code != 200:
        return options
    return post_json(client, reverse("recovery:enrol_verify"),
                     {"credential": SoftAuthenticator().create(options.json()), "name": name})


def _recover_earlier(case, agent) -> str:
    """Complete ``case`` through HTTP; return its "this wasn't me" token."""
    issued = workflow.issue_credential(case, agent)
    client = Client()
    client.post(reverse("recovery:redeem", args=[issued.credential.handle]),
                {"code": issued.code, "passkeys": "supported"})
    assert enrol(client, name="First").status_code == 200
    told = Notice.objects.filter(case=case, event="recovery_completed",
                                 body__contains="/not-me/").first()
    return re.search(r"/recover/not-me/([\w-]+)/", told.body).group(1)


@pytest.fixture
def world(agent, settings):
    """An identity recovered once before (so a "this wasn't me" link exists),
    whose second case has a credential sent to its email channel."""
    settings.WEBAUTHN_ORIGINS = ["http://localhost:8000"]
    first = approved(recovery_case("low", agent=agent), agent)
    not_me = _recover_earlier(first, agent)
    case = workflow.open_case(first.identity, source=RecoveryCase.Source.DESK,
                              actor=staff("agent"))
    workflow.claim(case, agent)
    case = approved(case, agent, staff("supervisor"), staff("supervisor"))
    email = channel_of(case, "email")
    issued = workflow.issue_credential(case, agent, channel=email)
    return World(case, agent, email, issued.credential, issued.code, not_me)


def security_admin():
    return sign_in_client(Client(), staff("security_admin", is_staff=True))


def revoke_channel(world):
    now = timezone.now()
    response = admin_forms.change(security_admin(), world.email,
                                  revoked_at_0=f"{now:%Y-%m-%d}", revoked_at_1=f"{now:%H:%M:%S}")
    assert response.status_code == 302, response.content[:3000]


def change_address(world):
    response = admin_forms.change(security_admin(), world.email,
                                  address="someone.else@example.net")
    assert response.status_code == 302, response.content[:3000]


def deactivate_identity(world):
    response = admin_forms.change(security_admin(), world.identity, is_active=None)
    assert response.status_code == 302, response.content[:3000]


def cancel_case(world):
    response = sign_in_client(Client(), world.agent).post(
        reverse("recovery:cancel", args=[world.case.pk]), {"reason": "Caller found their key."})
    assert response.status_code == 302


def answer_not_me(world):
    response = Client().post(reverse("recovery:repudiate", args=[world.not_me]))
    assert response.status_code == 200


TRIGGERS = {
    revoke_channel: "channel_revoked",
    change_address: "channel_changed",
    deactivate_identity: "identity_inactive",
    cancel_case: "case_cancelled",
    answer_not_me: "repudiated",
}
SPOKEN_BY_THE_CHANNEL = (revoke_channel, change_address)


def assert_voided(world, trigger, cause):
    world.credential.refresh_from_db()
    assert world.credential.voided_at is not None or world.credential.used_at is not None
    world.case.refresh_from_db()
    assert world.case.state == State.CANCELLED
    voided = events("credential_voided").get(object_pk=str(world.case.pk))
    assert voided.additional_data["cause"] == cause
    assert Notice.objects.filter(case=world.case, event="recovery_credential_voided",
                                 medium=Notice.Medium.MONITORING).exists()
    told = set(Notice.objects.filter(case=world.case, event="recovery_credential_voided",
                                     channel__isnull=False).values_list("channel", flat=True))
    phone = channel_of(world.case, "phone")
    assert phone.pk in told
    # A channel just revoked or changed (perhaps to the attacker's address) is not told.
    assert (world.email.pk in told) == (trigger not in SPOKEN_BY_THE_CHANNEL)


@pytest.mark.parametrize("trigger", TRIGGERS, ids=lambda t: t.__name__)
def test_a_change_after_issue_voids_the_credential_before_it_is_redeemed(world, trigger):
    trigger(world)
    assert_voided(world, trigger, TRIGGERS[trigger])
    assert world.credential.void_cause == TRIGGERS[trigger]
    client = Client()
    response = redeem(client, world)
    assert response.status_code == 400
    assert "cannot be used" in response.content.decode()
    assert not RecoverySession.objects.filter(credential=world.credential).exists()


@pytest.mark.parametrize("trigger", TRIGGERS, ids=lambda t: t.__name__)
def test_a_change_after_redemption_ends_the_recovery_session_before_enrolment(world, trigger):
    client = Client()
    assert redeem(client, world).status_code == 302
    trigger(world)
    assert_voided(world, trigger, TRIGGERS[trigger])
    session = RecoverySession.objects.get(credential=world.credential)
    assert session.voided_at <= timezone.now() and session.used_at is None
    assert client.get(reverse("recovery:enrol")).status_code == 403
    response = enrol(client)
    assert response.status_code == 403
    user = world.identity.user
    assert not PasskeyCredential.objects.filter(user=user, name="Second").exists()
    assert PasskeyCredential.objects.filter(user=user, revoked_at__isnull=True).count() == (
        0 if trigger is answer_not_me else 1)  # the earlier recovery's passkey


def test_a_channel_revoked_in_bulk_as_stale_voids_what_was_sent_to_it(world):
    RecoveryChannel.objects.filter(pk=world.email.pk).update(
        last_confirmed_at=timezone.now() - timedelta(days=3000))  # stale since issue
    admin = security_admin()
    response = admin.post(reverse("recovery:stale_channels"),
                          {"channel": [world.email.pk], "reason": "Unconfirmed since 2018."})
    assert response.status_code == 302
    assert_voided(world, revoke_channel, "channel_revoked")
    assert redeem(Client(), world).status_code == 400


def test_a_change_to_another_channel_leaves_the_credential_alone(world):
    phone = channel_of(world.case, "phone")
    response = admin_forms.change(security_admin(), phone, address="+44 7700 900999")
    assert response.status_code == 302
    world.case.refresh_from_db()
    assert world.case.state == State.CREDENTIAL_ISSUED
    assert redeem(Client(), world).status_code == 302


# --- checked again at use: a path that changed a fact without voiding -------

def test_redemption_refuses_a_credential_whose_channel_changed_behind_its_back(world):
    RecoveryChannel.objects.filter(pk=world.email.pk).update(address="x@evil.example")  # no signal
    response = redeem(Client(), world)
    assert response.status_code == 400
    assert not RecoverySession.objects.filter(credential=world.credential).exists()
    assert refusals("credential_redeem", "channel_changed").exists()
    assert_voided(world, change_address, "channel_changed")


def test_redemption_refuses_a_credential_whose_channel_went_stale(world):
    RecoveryChannel.objects.filter(pk=world.email.pk).update(
        last_confirmed_at=timezone.now() - timedelta(days=3000))
    assert redeem(Client(), world).status_code == 400
    assert refusals("credential_redeem", "channel_stale").exists()


def test_enrolment_refuses_a_session_whose_identity_was_deactivated_behind_its_back(world):
    client = Client()
    assert redeem(client, world).status_code == 302
    Identity.objects.filter(pk=world.identity.pk).update(is_active=False)  # no signal
    response = enrol(client)
    assert response.status_code == 403
    assert not PasskeyCredential.objects.filter(user=world.identity.user, name="Second").exists()
    world.case.refresh_from_db()
    assert world.case.state == State.CANCELLED


def test_completion_rechecks_the_basis_even_with_the_session_in_hand(world):
    """The decision itself refuses, whatever the page let through."""
    client = Client()
    assert redeem(client, world).status_code == 302
    session = RecoverySession.objects.get(credential=world.credential)
    RecoveryChannel.objects.filter(pk=world.email.pk).update(revoked_at=timezone.now())
    passkey = PasskeyCredential.objects.create(user=world.identity.user, name="Late",
                                               credential_id="late", public_key=b"x")
    with pytest.raises(workflow.WorkflowError) as refused:
        workflow.complete(session, passkey)
    assert refused.value.reason == "channel_revoked"
    world.case.refresh_from_db()
    assert world.case.state == State.CREDENTIAL_ISSUED  # the refusal changed nothing


def test_a_read_out_credential_rests_on_the_identity_not_on_a_channel(world):
    """Read out on the phone, it went to no channel: changing one leaves it be."""
    read_out = workflow.issue_credential(world.case, world.agent)
    admin_forms.change(security_admin(), world.email, address="new.address@example.org")
    world.case.refresh_from_db()
    assert world.case.state == State.CREDENTIAL_ISSUED
    Identity.objects.filter(pk=world.identity.pk).update(is_active=False)
    response = Client().post(reverse("recovery:redeem_read_out"), {
        "reference": read_out.credential.reference, "code": read_out.code,
        "passkeys": "supported"})
    assert response.status_code == 400
    assert refusals("credential_redeem", "identity_inactive").exists()


def test_deactivating_an_identity_cancels_its_open_case_before_any_credential(agent):
    case = recovery_case("low", agent=agent)
    response = admin_forms.change(security_admin(), case.identity, is_active=None)
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.state == State.CANCELLED
    assert events("case_cancelled").get(object_pk=str(case.pk)).additional_data["cause"] == \
        "identity_inactive"
    assert not events("credential_voided").exists()  # nothing was live to void


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("recovery_reference_data")
@pytest.mark.parametrize("run", range(4))
def test_a_revocation_racing_a_redemption_never_leaves_a_live_session(on_postgres, agent, run):
    """Whichever commits first, the other sees it: the redemption refuses, or
    the revocation voids the session it just opened."""
    case = approved(recovery_case("low", agent=agent), agent)
    email = channel_of(case, "email")
    issued = workflow.issue_credential(case, agent, channel=email)

    def revoke():
        channel = RecoveryChannel.objects.get(pk=email.pk)
        channel.revoked_at = timezone.now()
        channel.save()

    race(lambda: workflow.redeem(issued.credential.handle, issued.code), revoke)
    case.refresh_from_db()
    assert case.state == State.CANCELLED
    assert not RecoverySession.objects.live(timezone.now()).filter(case=case).exists()
    issued.credential.refresh_from_db()
    assert issued.credential.used_at is not None or issued.credential.voided_at is not None


def test_a_credential_of_a_case_closed_behind_its_back_never_stops_a_newer_case(world):
    """Its own case is closed (by a path that forgot to void): it is refused,
    and the identity's next recovery, with its own credential, goes on."""
    RecoveryCase.objects.filter(pk=world.case.pk).update(state=State.CANCELLED)  # no voiding
    # A third recovery in 30 days: allowed here (velocity has its own tests).
    RecoveryPolicy.objects.update(refuse_from=4)
    newer = workflow.open_case(world.identity, source=RecoveryCase.Source.DESK,
                               actor=staff("agent"))
    workflow.claim(newer, world.agent)
    newer = approved(newer, world.agent, staff("supervisor"), staff("supervisor"))
    workflow.issue_credential(newer, world.agent, channel=world.email)
    assert redeem(Client(), world).status_code == 400
    assert refusals("credential_redeem", "case_cancelled").exists()
    newer.refresh_from_db()
    assert newer.state == State.CREDENTIAL_ISSUED
