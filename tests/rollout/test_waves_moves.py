"""A wave's stages through the wave page: pilot -> invite -> report-only ->
enforce -> done, one at a time; enforcement only after the report-only
period and while the readiness gate passes; exceptions leave a person out
of the gate until they expire (the beat ends them and tells the owner)."""

from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from recovery_console import clock
from recovery_console.models import Notice
from recovery_console.refusal import WorkflowError
from recovery_console.rollout import workflow
from recovery_console.rollout.models import Wave, WaveException
from recovery_console.rollout.tasks import expire_rollout_exceptions
from tests.factories import RecoveryChannelFactory, staff
from tests.sessions import sign_in_client

from .waves_support import admin_client, person, wave

pytestmark = pytest.mark.django_db
Stage = Wave.Stage


def move(client, w: Wave, to_stage: str):
    return client.post(reverse("rollout:wave_move", args=[w.pk]), {"to_stage": to_stage})


def stage_of(w: Wave) -> str:
    w.refresh_from_db()
    return w.stage


def refusals(reason: str):
    return LogEntry.objects.filter(additional_data__event="rollout_wave_move_refused",
                                   additional_data__reason=reason)


def test_a_wave_moves_one_stage_at_a_time_from_pilot_to_done():
    for _ in range(3):
        person()
    w = wave()
    client = admin_client()
    for to_stage in (Stage.INVITE, Stage.REPORT_ONLY):
        response = move(client, w, to_stage)
        assert response.status_code == 302, response.content
        assert stage_of(w) == to_stage
        if to_stage == Stage.INVITE:  # the plan's enrolment period starts
            assert w.enrol_by == w.stage_since + timedelta(days=14)
    Wave.objects.filter(pk=w.pk).update(stage_since=timezone.now() - timedelta(days=8))
    assert "Move to enforce" in client.get(reverse("rollout:wave", args=[w.pk])).content.decode()
    assert move(client, w, Stage.ENFORCE).status_code == 302
    assert move(client, w, Stage.DONE).status_code == 302
    assert stage_of(w) == Stage.DONE
    moved = LogEntry.objects.filter(additional_data__event="rollout_wave_moved")
    assert [e.additional_data["to_stage"] for e in moved.order_by("pk")] == [
        "invite", "report_only", "enforce", "done"]
    assert {e.actor.username for e in moved} == {"sec-admin"}


def test_a_stage_cannot_be_skipped_or_gone_back_to():
    w = wave(Stage.INVITE)
    client = admin_client()
    assert move(client, w, Stage.ENFORCE).status_code == 409
    assert move(client, w, Stage.PILOT).status_code == 409
    assert move(client, w, "sideways").status_code == 400
    assert stage_of(w) == Stage.INVITE
    assert refusals("illegal_move").count() == 2


def test_enforcing_waits_for_the_report_only_period():
    person()
    w = wave(Stage.REPORT_ONLY, since_days=6)  # the plan's period is 7 days
    client = admin_client()
    page = client.get(reverse("rollout:wave", args=[w.pk])).content.decode()
    assert "Move to enforce" not in page and "report-only period is still running" in page
    response = move(client, w, Stage.ENFORCE)
    assert response.status_code == 409
    assert "report-only mode until" in response.content.decode()
    assert stage_of(w) == Stage.REPORT_ONLY and refusals("report_only_running").exists()


def test_enforcing_is_refused_while_the_gate_fails_and_the_page_names_who_blocks_it():
    for _ in range(8):
        person()
    no_passkey = person(passkey=False, display_name="Nadia No-Passkey")
    no_channel = person(channel=False, display_name="Colm No-Channel")
    w = wave(Stage.REPORT_ONLY, since_days=8)  # 90% with a channel: 95% required
    client = admin_client()

    response = move(client, w, Stage.ENFORCE)

    assert response.status_code == 409
    page = response.content.decode()
    assert "Readiness gate: fails" in page and "2 people block" in page
    assert no_passkey.display_name in page and no_channel.display_name in page
    assert "Move to enforce" not in page
    assert stage_of(w) == Stage.REPORT_ONLY
    refused = refusals("gate_failing").get()
    assert refused.additional_data["parts"] == ["channels"]


def test_a_privileged_member_not_ready_blocks_enforcement_though_the_shares_pass():
    for _ in range(9):
        person()
    admin = person(channel=False, privileged=True, display_name="Priya Privileged")
    w = wave(Stage.REPORT_ONLY, since_days=8, channel_share_required=90)
    client = admin_client()

    response = move(client, w, Stage.ENFORCE)

    assert response.status_code == 409
    page = response.content.decode()
    assert "1 person blocks" in page and admin.display_name in page
    assert refusals("gate_failing").get().additional_data["parts"] == ["privileged"]
    RecoveryChannelFactory(identity=admin)  # now ready
    assert move(client, w, Stage.ENFORCE).status_code == 302
    assert stage_of(w) == Stage.ENFORCE


def test_a_paused_wave_does_not_move():
    person()
    w = wave(Stage.REPORT_ONLY, since_days=8)
    Wave.objects.filter(pk=w.pk).update(paused_at=timezone.now(), paused_reason="Help desk")
    client = admin_client()
    assert "Move to enforce" not in client.get(reverse("rollout:wave", args=[w.pk])) \
        .content.decode()
    assert move(client, w, Stage.ENFORCE).status_code == 409
    assert stage_of(w) == Stage.REPORT_ONLY and refusals("wave_paused").exists()


def test_only_security_admins_move_waves():
    person()
    w = wave()
    supervisor = sign_in_client(Client(), staff("supervisor"))
    assert move(supervisor, w, Stage.INVITE).status_code == 403
    assert supervisor.get(reverse("rollout:wave", args=[w.pk])).status_code == 403
    assert move(Client(), w, Stage.INVITE).status_code == 302  # to the sign-in page
    with pytest.raises(WorkflowError) as refused:
        workflow.move_wave(w, staff("auditor"), Stage.INVITE)
    assert refused.value.reason == "role"
    assert stage_of(w) == Stage.PILOT
    assert admin_client().get(reverse("rollout:wave", args=[w.pk + 99])).status_code == 404


def _exception_form(identity, owner, expires_at, **fields):
    return {"exception-person": identity.directory_id, "exception-stage": "enforce",
            "exception-owner": owner.pk, "exception-reason": "On a ship until spring",
            "exception-expires_at": expires_at.strftime("%Y-%m-%dT%H:%M"), **fields}


def test_an_excused_member_is_left_out_of_the_gate_until_the_exception_expires():
    for _ in range(9):
        person()
    sailor = person(passkey=False, privileged=True, display_name="Sam Sailor")
    w = wave(Stage.REPORT_ONLY, since_days=8)
    owner = staff("supervisor", username="owner-o")
    admin = staff("security_admin", username="sec-admin")
    client = admin_client(admin)
    url = reverse("rollout:wave", args=[w.pk])
    assert "Move to enforce" not in client.get(url).content.decode()

    expires = timezone.localtime() + timedelta(days=2)
    response = client.post(reverse("rollout:exception_add", args=[w.pk]),
                           _exception_form(sailor, owner, expires))

    assert response.status_code == 302, response.content
    page = client.get(url).content.decode()
    assert "Readiness gate: passes" in page and "Move to enforce" in page
    assert "Excused from enforcement" in page and sailor.display_name in page
    later = timezone.now() + timedelta(days=3)
    with clock.frozen_at(later):
        # Past its expiry, before the beat ends it: the sailor counts again.
        assert not workflow.gate(w, clock.now()).passes
        assert move(client, w, Stage.ENFORCE).status_code == 409
        assert expire_rollout_exceptions() == 1
    exception = WaveException.objects.get()
    assert exception.ended_at == later
    entry = LogEntry.objects.get(additional_data__event="rollout_exception_expired")
    assert entry.actor is None and entry.additional_data["identity"] == sailor.pk
    told = Notice.objects.filter(event="rollout_exception_expired")
    assert told.count() == 1 and "owner-o" in told.get().subject
    assert stage_of(w) == Stage.REPORT_ONLY


def test_the_expiry_task_ends_only_what_is_due_and_tells_each_owner_once():
    members = [person() for _ in range(3)]
    w = wave(Stage.INVITE)
    owner = staff("security_admin")
    owner_identity = person(user=owner)  # the owner's own channels are told too
    now = timezone.now()
    due, later = (workflow.add_exception(w, owner, members[i], "enforce", owner, "Leave",
                                         now + timedelta(hours=hours))
                  for i, hours in ((0, 1), (1, 48)))
    with clock.frozen_at(now + timedelta(hours=2)):
        assert expire_rollout_exceptions() == 1
        assert expire_rollout_exceptions() == 0
    due.refresh_from_db()
    later.refresh_from_db()
    assert due.ended_at is not None and later.ended_at is None
    told = Notice.objects.filter(event="rollout_exception_expired")
    assert {(n.medium, n.identity_id) for n in told} == {
        ("monitoring", members[0].pk), ("email", owner_identity.pk)}


def test_an_exception_is_ended_early_from_the_wave_page():
    member = person()
    w = wave(Stage.INVITE)
    admin = staff("security_admin", username="sec-admin")
    exception = workflow.add_exception(w, admin, member, "invite", admin, "Leave",
                                       timezone.now() + timedelta(days=5))
    client = admin_client(admin)
    url = reverse("rollout:exception_end", args=[exception.pk])
    assert client.post(url).status_code == 302
    exception.refresh_from_db()
    assert exception.ended_at is not None
    assert client.post(url).status_code == 409  # already ended
    assert LogEntry.objects.filter(additional_data__event="rollout_exception_ended").count() == 1


def test_an_exception_is_refused_for_an_outsider_a_past_expiry_or_a_second_one():
    member, outsider = person(), person(group="Sales")
    w = wave(Stage.INVITE)
    owner = staff("supervisor")
    client = admin_client()
    url = reverse("rollout:exception_add", args=[w.pk])
    soon = timezone.localtime() + timedelta(days=1)

    outside = client.post(url, _exception_form(outsider, owner, soon))
    assert outside.status_code == 400
    assert 'id="id_exception-person_error"' in outside.content.decode()
    past = client.post(url, _exception_form(member, owner, soon - timedelta(days=3)))
    assert past.status_code == 400
    assert 'id="id_exception-expires_at_error"' in past.content.decode()
    assert client.post(url, _exception_form(member, owner, soon)).status_code == 302
    again = client.post(url, _exception_form(member, owner, soon))
    assert again.status_code == 409
    assert WaveException.objects.count() == 1
