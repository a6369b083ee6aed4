"""The recovery workflow's decisions, called directly: the state machine,
who may make each move, and the edge cases of codes and credentials."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import PasskeyCredential
from recovery_console import clock, tokens, workflow
from recovery_console.models import (
    Approval,
    Evidence,
    Notice,
    RecoveryCase,
    RecoveryCredential,
    RecoveryPolicy,
)
from recovery_console.workflow import WorkflowError
from tests.factories import IdentityFactory, recovery_case, staff
from tests.sessions import passkey_for, sign_in_client

from .support import (
    approved,
    attestation_token,
    channel_of,
    code_sent,
    events,
    refusals,
    step_of,
    step_up_now,
    verify,
)

pytestmark = pytest.mark.django_db
State = RecoveryCase.State


@pytest.fixture
def supervisors():
    return staff("supervisor"), staff("supervisor")


def travel(monkeypatch, delta: timedelta):
    moment = timezone.now() + delta
    monkeypatch.setattr(clock, "now", lambda: moment)


def issued(case, agent, *supervisors):
    approved(case, agent, *supervisors)
    return workflow.issue_credential(case, agent)


# --- policies and opening ---------------------------------------------------

def test_seeded_policies_cover_every_tier_with_the_designed_defaults():
    policies = {p.tier: p for p in RecoveryPolicy.objects.all()}
    assert [policies[t].approvals_required for t in ("low", "medium", "high", "restricted")] == \
        [0, 0, 1, 2]
    assert [policies[t].credential_lifetime.total_seconds() // 60
            for t in ("low", "medium", "high", "restricted")] == [60, 30, 15, 15]
    assert not policies["restricted"].self_service_allowed
    for tier, policy in policies.items():
        kinds = list(policy.script.steps.values_list("kind", flat=True))
        assert ("knowledge" in kinds) == (tier == "low")
        assert any(k != "knowledge" for k in kinds)


def test_policy_credential_lifetime_above_24_hours_is_refused_by_the_database():
    policy = RecoveryPolicy.objects.get(tier="low")
    policy.credential_lifetime = timedelta(hours=25)
    with pytest.raises(IntegrityError), transaction.atomic():
        policy.save()


def test_opening_a_case_freezes_tier_reasons_and_policy_and_tells_the_subject():
    case = recovery_case("high")
    assert case.state == State.NEW
    assert "Works with highly sensitive data." in case.tier_reasons
    assert case.policy_snapshot["approvals_required"] == 1
    RecoveryPolicy.objects.filter(tier="high").update(approvals_required=0)
    case.refresh_from_db()
    assert case.rules.approvals_required == 1  # later admin edits do not loosen an open case
    assert Notice.objects.filter(event="recovery_requested", identity=case.identity).count() == 2
    assert events("case_opened").get().additional_data["tier"] == "high"


def test_only_one_open_case_per_identity():
    case = recovery_case("low")
    with pytest.raises(WorkflowError, match="already open"):
        workflow.open_case(case.identity, source=RecoveryCase.Source.SELF_SERVICE)
    assert refusals("case_open", "already_open").exists()


def test_restricted_tier_refuses_self_service_requests():
    identity = IdentityFactory(kind="service_account", owner=IdentityFactory())
    with pytest.raises(WorkflowError, match="self-service"):
        workflow.open_case(identity, source=RecoveryCase.Source.SELF_SERVICE)
    assert not RecoveryCase.objects.exists()
    assert refusals("case_open", "self_service_not_allowed").exists()


def test_only_agents_open_desk_cases():
    supervisor = staff("supervisor")
    with pytest.raises(WorkflowError, match="Only an agent may do this"):
        workflow.open_case(IdentityFactory(), source=RecoveryCase.Source.DESK, actor=supervisor)


# --- claiming ---------------------------------------------------------------

def test_claiming_grants_object_permission_and_starts_verification(agent):
    case = recovery_case("low")
    workflow.claim(case, agent)
    case.refresh_from_db()
    assert case.agent == agent and case.state == State.VERIFYING
    assert agent.has_perm("recovery.work_recoverycase", case)
    workflow.unclaim(case, agent)
    case.refresh_from_db()
    assert case.agent is None
    assert not type(agent).objects.get(pk=agent.pk).has_perm("recovery.work_recoverycase", case)


def test_an_agent_cannot_claim_a_case_another_agent_holds(agent):
    case = recovery_case("low", agent=agent)
    other = staff("agent")
    with pytest.raises(WorkflowError, match="Another agent holds"):
        workflow.claim(case, other)
    assert refusals("case_claim", "held_by_other").get().actor == other


def test_a_refusal_carries_its_code_and_its_http_meaning(agent):
    """Views answer a refusal with its ``status``, never by reading its message."""
    case = recovery_case("low", agent=agent)
    other = staff("agent")
    with pytest.raises(WorkflowError) as held:
        workflow.claim(case, other)
    with pytest.raises(WorkflowError) as not_holder:
        workflow.cancel(case, other, "A duplicate.")
    with pytest.raises(WorkflowError) as no_reason:
        workflow.cancel(case, agent, " ")
    assert (held.value.reason, held.value.status) == ("held_by_other", 409)
    assert (not_holder.value.reason, not_holder.value.status) == ("not_holder", 403)
    assert (no_reason.value.reason, no_reason.value.status) == ("reason_required", 400)
    assert refusals("case_cancel", "not_holder").get().actor == other
    assert refusals("case_cancel", "reason_required").get().actor == agent


def test_an_agent_cannot_work_their_own_recovery():
    agent = staff("agent")
    case = recovery_case("low", user=agent)
    with pytest.raises(WorkflowError, match="your own account"):
        workflow.claim(case, agent)


def test_an_agent_who_does_not_hold_the_case_cannot_work_it(agent):
    case = recovery_case("low", agent=agent)
    other = staff("agent")
    with pytest.raises(WorkflowError, match="Claim this case"):
        workflow.send_channel_code(case, other, step_of(case, "channel_code"), channel_of(case))
    assert refusals("channel_code_send", "not_holder").get().actor == other


# --- channel codes ----------------------------------------------------------

def test_a_right_code_passes_the_step_and_a_low_case_is_approved_without_supervisor(agent):
    case = recovery_case("low", agent=agent)
    step = step_of(case, "channel_code")
    workflow.send_channel_code(case, agent, step, channel_of(case))
    evidence = workflow.check_channel_code(case, agent, step, code_sent(case))
    assert evidence.result == Evidence.Result.PASSED
    case.refresh_from_db()
    assert case.state == State.APPROVED
    assert events("case_approved").get().additional_data["by"] == "policy"


def test_codes_are_stored_only_as_keyed_hashes(agent):
    case = recovery_case("low", agent=agent)
    sent = workflow.send_channel_code(case, agent, step_of(case, "channel_code"), channel_of(case))
    assert code_sent(case) not in sent.digest
    assert sent.digest == tokens.digest("channel-code", code_sent(case))


def test_a_wrong_code_is_failed_evidence_and_the_fifth_wrong_code_ends_the_code(agent):
    case = recovery_case("low", agent=agent)
    step = step_of(case, "channel_code")
    workflow.send_channel_code(case, agent, step, channel_of(case))
    wrong = f"{(int(code_sent(case)) + 1) % 1_000_000:06d}"
    for _ in range(5):
        assert workflow.check_channel_code(case, agent, step, wrong).result == "failed"
    with pytest.raises(WorkflowError, match="Too many wrong codes"):
        workflow.check_channel_code(case, agent, step, code_sent(case))  # even the right one
    case.refresh_from_db()
    assert case.state == State.VERIFYING


def test_an_expired_code_is_refused(agent, monkeypatch):
    case = recovery_case("low", agent=agent)
    step = step_of(case, "channel_code")
    workflow.send_channel_code(case, agent, step, channel_of(case))
    travel(monkeypatch, timedelta(minutes=10, seconds=1))
    with pytest.raises(WorkflowError, match="expired"):
        workflow.check_channel_code(case, agent, step, code_sent(case))
    assert not case.evidence.exists()
    assert refusals("channel_code_check", "code_expired").exists()


def test_a_used_code_cannot_be_replayed(agent):
    case = recovery_case("medium", agent=agent)
    step = step_of(case, "channel_code")
    workflow.send_channel_code(case, agent, step, channel_of(case))
    workflow.check_channel_code(case, agent, step, code_sent(case))
    with pytest.raises(WorkflowError, match="already passed"):
        workflow.check_channel_code(case, agent, step, code_sent(case))


def test_codes_go_only_to_registered_fresh_channels(agent):
    case = recovery_case("high", agent=agent)
    step = step_of(case, "channel_code")
    stranger = IdentityFactory()
    from tests.factories import RecoveryChannelFactory

    foreign = RecoveryChannelFactory(identity=stranger)
    with pytest.raises(WorkflowError, match="registered"):
        workflow.send_channel_code(case, agent, step, foreign)
    stale = channel_of(case, "email")
    stale.last_confirmed_at = timezone.now() - timedelta(days=365)
    stale.save()
    with pytest.raises(WorkflowError, match="stale"):
        workflow.send_channel_code(case, agent, step, stale)
    phone = channel_of(case, "phone")
    phone.changed_at = timezone.now() - timedelta(days=2)
    phone.save()
    with pytest.raises(WorkflowError, match="changed recently"):
        workflow.send_channel_code(case, agent, step, phone)
    assert not Notice.objects.filter(event="recovery_channel_code").exists()


# --- script order and evidence ---------------------------------------------

def test_a_later_step_cannot_be_worked_before_the_earlier_required_one(agent):
    case = recovery_case("medium", agent=agent)
    with pytest.raises(WorkflowError, match="Finish step 1"):
        workflow.record_evidence(case, agent, step_of(case, "callback"), note="Answered.")
    assert refusals("evidence_record", "step_order").exists()


def test_knowledge_alone_never_verifies_a_case(agent):
    case = recovery_case("low", agent=agent)
    # Make the knowledge step the only required one: still not enough.
    case.script.steps.filter(kind="channel_code").update(required=False)
    case.script.steps.filter(kind="knowledge").update(required=True)
    workflow.record_evidence(case, agent, step_of(case, "knowledge"), note="Knew the manager.")
    case.refresh_from_db()
    assert case.state == State.VERIFYING


def test_id_document_keeps_only_type_and_last_four_characters(agent):
    case = recovery_case("restricted", agent=agent)
    pass_steps = case.script.steps.filter(kind__in=["channel_code", "attestation"])
    assert pass_steps.count() == 2
    from .support import pass_code_step

    pass_code_step(case, agent)
    workflow.request_attestation(case, agent, step_of(case, "attestation"))
    workflow.answer_attestation(attestation_token(case), True)
    with pytest.raises(WorkflowError, match="last 4"):
        workflow.record_evidence(case, agent, step_of(case, "id_document"),
                                 document_type="passport", document_last4="123456789")
    evidence = workflow.record_evidence(case, agent, step_of(case, "id_document"),
                                        document_type="passport", document_last4="ab12")
    assert evidence.details == {"document_type": "passport", "last4": "AB12"}


def test_evidence_is_append_only(agent):
    case = recovery_case("low", agent=agent)
    verify(case, agent)
    evidence = case.evidence.first()
    evidence.note = "changed"
    with pytest.raises(ValueError, match="append-only"):
        evidence.save()
    with pytest.raises(ValueError, match="append-only"):
        evidence.delete()


def test_a_refused_attestation_fails_the_case(agent):
    case = recovery_case("high", agent=agent)
    from .support import pass_code_step

    pass_code_step(case, agent)
    workflow.request_attestation(case, agent, step_of(case, "attestation"))
    notice = Notice.objects.get(event="recovery_attestation")
    assert notice.identity == case.identity.manager
    workflow.answer_attestation(attestation_token(case), False)
    case.refresh_from_db()
    assert case.state == State.FAILED
    with pytest.raises(WorkflowError, match="already answered"):
        workflow.answer_attestation(attestation_token(case), True)


# --- approvals --------------------------------------------------------------

def test_high_case_needs_one_supervisor_who_stepped_up(agent, supervisors):
    case = verify(recovery_case("high", agent=agent), agent)
    assert case.state == State.VERIFIED
    with pytest.raises(WorkflowError, match="cannot issue"):
        workflow.issue_credential(case, agent)
    workflow.request_approval(case, agent)
    with pytest.raises(WorkflowError, match="Confirm it's you"):
        workflow.approve(case, supervisors[0], "Looks right.", step_up=None)
    stale = {"device": "x", "at": (timezone.now() - timedelta(minutes=6)).isoformat()}
    with pytest.raises(WorkflowError, match="Confirm it's you"):
        workflow.approve(case, supervisors[0], "Looks right.", step_up=stale)
    approval = workflow.approve(case, supervisors[0], "Looks right.", step_up=step_up_now())
    case.refresh_from_db()
    assert case.state == State.APPROVED and approval.step_up_device
    assert refusals("approval", "step_up").count() == 2


def test_restricted_case_needs_two_distinct_supervisors(agent, supervisors):
    case = verify(recovery_case("restricted", agent=agent), agent)
    workflow.request_approval(case, agent)
    workflow.approve(case, supervisors[0], "One.", step_up=step_up_now())
    case.refresh_from_db()
    assert case.state == State.AWAITING_APPROVAL
    with pytest.raises(WorkflowError, match="already decided"):
        workflow.approve(case, supervisors[0], "Again.", step_up=step_up_now())
    workflow.approve(case, supervisors[1], "Two.", step_up=step_up_now())
    case.refresh_from_db()
    assert case.state == State.APPROVED
    assert Approval.objects.filter(case=case).count() == 2


def test_the_agent_who_worked_a_case_cannot_approve_it_even_as_supervisor():
    worker = staff("agent", "supervisor")
    case = verify(recovery_case("high", agent=worker), worker)
    workflow.request_approval(case, worker)
    with pytest.raises(WorkflowError, match="You worked on this case"):
        workflow.approve(case, worker, "Mine.", step_up=step_up_now())
    workflow.unclaim(case, worker)  # giving it back does not make them eligible
    with pytest.raises(WorkflowError, match="You worked on this case"):
        workflow.approve(case, worker, "Mine.", step_up=step_up_now())


def test_the_subject_cannot_approve_their_own_recovery(agent):
    supervisor = staff("supervisor")
    case = verify(recovery_case("high", agent=agent, user=supervisor), agent)
    workflow.request_approval(case, agent)
    with pytest.raises(WorkflowError, match="your own account"):
        workflow.approve(case, supervisor, "Me.", step_up=step_up_now())
    assert refusals("approval", "subject").get().actor == supervisor


def test_a_denial_closes_the_case_and_tells_the_subject(agent, supervisors):
    case = verify(recovery_case("high", agent=agent), agent)
    workflow.request_approval(case, agent)
    workflow.deny(case, supervisors[0], "The caller hesitated on every answer.",
                  step_up=step_up_now())
    case.refresh_from_db()
    assert case.state == State.DENIED
    assert Notice.objects.filter(event="recovery_denied", identity=case.identity,
                                 channel__isnull=False).count() == 2
    with pytest.raises(WorkflowError):
        workflow.approve(case, supervisors[1], "Override.", step_up=step_up_now())


# --- credentials ------------------------------------------------------------

def test_a_credential_has_over_80_bits_and_is_stored_only_as_hmac(agent):
    result = issued(recovery_case("low", agent=agent), agent)
    raw = result.code.replace("-", "")
    assert len(raw) * 4.95 >= 80
    credential = result.credential
    assert raw not in credential.digest and result.code not in credential.digest
    assert credential.digest == tokens.digest("recovery-credential", result.code)
    assert credential.expires_at - credential.created_at == timedelta(minutes=60)


def test_issuing_again_voids_the_previous_credential(agent):
    case = recovery_case("low", agent=agent)
    first = issued(case, agent)
    second = workflow.issue_credential(case, agent, channel=channel_of(case, "email"))
    first.credential.refresh_from_db()
    assert first.credential.voided_at is not None
    with pytest.raises(WorkflowError, match="cannot be used"):
        workflow.redeem(first.credential.handle, first.code)
    assert refusals("credential_redeem", "voided").exists()
    assert second.code in Notice.objects.get(event="recovery_credential").body


def test_redeeming_opens_a_session_once_and_a_replay_is_refused(agent):
    result = issued(recovery_case("low", agent=agent), agent)
    opened = workflow.redeem(result.credential.handle, result.code.lower().replace("-", " "))
    assert workflow.recovery_session_for(opened.token) == opened.session
    with pytest.raises(WorkflowError, match="cannot be used"):
        workflow.redeem(result.credential.handle, result.code)
    assert refusals("credential_redeem", "used").exists()


def test_an_expired_credential_is_refused_even_if_no_task_expired_it(agent, monkeypatch):
    result = issued(recovery_case("low", agent=agent), agent)
    travel(monkeypatch, timedelta(minutes=61))
    with pytest.raises(WorkflowError, match="cannot be used"):
        workflow.redeem(result.credential.handle, result.code)
    assert refusals("credential_redeem", "expired").exists()


def test_wrong_codes_are_counted_before_comparing_and_exhaust_the_credential(agent):
    result = issued(recovery_case("low", agent=agent), agent)
    handle = result.credential.handle
    for left in (4, 3, 2, 1, 0):
        with pytest.raises(WorkflowError, match=f"{left} tr"):
            workflow.redeem(handle, "AAAAA-AAAAA-AAAAA-AAAAA")
    with pytest.raises(WorkflowError, match="cannot be used"):
        workflow.redeem(handle, result.code)
    assert RecoveryCredential.objects.get(handle=handle).attempts == 5
    assert refusals("credential_redeem", "too_many_attempts").exists()


def test_a_code_of_another_case_does_not_redeem_this_credential(agent):
    mine = issued(recovery_case("low", agent=agent), agent)
    theirs = issued(recovery_case("low", agent=agent), agent)
    with pytest.raises(WorkflowError, match="does not match"):
        workflow.redeem(mine.credential.handle, theirs.code)
    assert refusals("credential_redeem", "wrong_code").exists()


def test_completion_revokes_old_passkeys_ends_other_sessions_and_tells_everyone(agent):
    case = recovery_case("low", agent=agent)
    user = case.identity.user
    old, _ = passkey_for(user)
    elsewhere = sign_in_client(Client(), user, device=old)
    assert elsewhere.get(reverse("accounts:passkeys")).status_code == 200
    result = issued(case, agent)
    opened = workflow.redeem(result.credential.handle, result.code)
    new, _ = passkey_for(user)
    workflow.complete(opened.session, new)
    case.refresh_from_db()
    old.refresh_from_db()
    new.refresh_from_db()
    assert case.state == State.COMPLETED and case.watch_until is not None
    assert old.revoked_at is not None and not old.confirmed
    assert new.revoked_at is None
    response = elsewhere.get(reverse("accounts:passkeys"))
    assert response.status_code == 302 and response.url == reverse("accounts:sign_in")
    assert Notice.objects.filter(event="recovery_completed", identity=case.identity,
                                 channel__isnull=False).count() == 2
    assert Notice.objects.filter(event="recovery_completed",
                                 identity=case.identity.manager).exists()
    assert Notice.objects.filter(event="recovery_completed", medium="monitoring").exists()
    with pytest.raises(WorkflowError, match="session has ended"):
        workflow.complete(opened.session, new)


def test_a_passkey_of_someone_else_cannot_complete_a_case(agent):
    case = recovery_case("low", agent=agent)
    result = issued(case, agent)
    opened = workflow.redeem(result.credential.handle, result.code)
    stranger, _ = passkey_for(IdentityFactory().user)
    with pytest.raises(WorkflowError, match="does not belong"):
        workflow.complete(opened.session, stranger)
    assert PasskeyCredential.objects.filter(revoked_at__isnull=False).count() == 0


# --- expiry and cancellation ------------------------------------------------

def test_the_sweep_expires_overdue_cases_and_voids_their_credentials(agent, monkeypatch):
    case = recovery_case("low", agent=agent)
    result = issued(case, agent)
    fresh = recovery_case("low")
    travel(monkeypatch, timedelta(days=3, minutes=1))
    assert workflow.expire_due() == 2
    case.refresh_from_db()
    fresh.refresh_from_db()
    assert case.state == fresh.state == State.EXPIRED
    result.credential.refresh_from_db()
    assert result.credential.voided_at is not None


def test_a_case_cannot_expire_before_its_deadline(agent):
    case = recovery_case("low", agent=agent)
    with pytest.raises(WorkflowError, match="deadline"):
        workflow.expire(case)


def test_cancelling_needs_a_reason_and_closes_the_case(agent):
    case = recovery_case("low", agent=agent)
    with pytest.raises(WorkflowError, match="Give a reason"):
        workflow.cancel(case, agent, " ")
    workflow.cancel(case, agent, "Caller found their security key.")
    case.refresh_from_db()
    assert case.state == State.CANCELLED
    with pytest.raises(WorkflowError, match="cannot claim"):
        workflow.claim(case, staff("agent"))


# --- authenticator (TOTP) step ----------------------------------------------

def test_a_totp_step_checks_the_code_through_django_otp(agent):
    from django_otp.oath import TOTP

    from recovery_console.models import ScriptStep, VerificationScript
    from tests.factories import RecoveryChannelFactory, TOTPDeviceFactory, reachable_identity

    script = VerificationScript.objects.create(name="Authenticator only")
    ScriptStep.objects.create(script=script, position=1, kind="totp", title="Authenticator",
                              instructions="Ask for the code shown in their app.")
    RecoveryPolicy.objects.filter(tier="low").update(script=script)
    identity = reachable_identity()
    device = TOTPDeviceFactory(user=identity.user)
    RecoveryChannelFactory(identity=identity, kind="totp", address="", totp_device=device)
    case = workflow.open_case(identity, source=RecoveryCase.Source.DESK, actor=staff("agent"))
    workflow.claim(case, agent)
    workflow.answer_pressure_checklist(case, agent, [], none_observed=True)
    step = step_of(case, "totp")
    now = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    right = f"{now.token():06d}"
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    assert workflow.record_evidence(case, agent, step, totp_code=wrong).result == "failed"
    device.refresh_from_db()
    device.throttling_failure_count = 0  # django-otp throttles after a failure; wait it out
    device.throttling_failure_timestamp = None
    device.save()
    evidence = workflow.record_evidence(case, agent, step, totp_code=right)
    assert evidence.result == "passed" and evidence.channel.totp_device == device
    case.refresh_from_db()
    assert case.state == State.APPROVED


def test_a_totp_step_without_an_authenticator_on_file_is_refused(agent):
    from recovery_console.models import ScriptStep, VerificationScript

    script = VerificationScript.objects.create(name="Authenticator only")
    ScriptStep.objects.create(script=script, position=1, kind="totp", title="Authenticator",
                              instructions="Ask for the code shown in their app.")
    RecoveryPolicy.objects.filter(tier="low").update(script=script)
    case = recovery_case("low", agent=agent)
    with pytest.raises(WorkflowError, match="no usable authenticator"):
        workflow.record_evidence(case, agent, step_of(case, "totp"), totp_code="123456")
    assert refusals("evidence_record", "no_totp").exists()
