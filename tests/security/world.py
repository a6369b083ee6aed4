"""One small console with a person of every role signed in, and a real
object behind every id a URL takes: the ground the security tests stand on."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.test import Client
from django.utils import timezone

from audit.sampling import SampleRequest, draw_sample
from recovery_console import workflow
from recovery_console.models import Alert, InvolvementReview, RecoveryCase, ScriptStep
from tests.factories import recovery_case, staff
from tests.recovery.support import approved, attestation_token, pass_code_step, step_of
from tests.sessions import passkey_for, sign_in_client

ROLES = ("anonymous", "end_user", "agent", "other_agent", "supervisor", "auditor",
         "security_admin")


@dataclass
class World:
    users: dict = field(default_factory=dict)
    sessions: dict = field(default_factory=dict)  # role -> session key
    case: RecoveryCase | None = None  # high tier, held by the agent, verifying
    step: ScriptStep | None = None  # its channel code step (passed)
    attestation_step: ScriptStep | None = None
    attestation_token: str = ""
    passkey: object = None  # the end user's passkey
    issued: object = None  # a credential issued on a second (low) case
    issued_case: RecoveryCase | None = None  # that low case
    credential: object = None  # its credential
    report: object = None
    sampled_case_id: int = 0
    chart: str = "months"  # a dashboard chart (its CSV)
    readiness_chart: str = "recency"  # a readiness report chart (its CSV)
    alert: object = None
    review: object = None  # an open review of the agent's part in a repudiated recovery
    wave: object = None  # a passkey rollout wave, in pilot, not paused
    unknown_token: str = "no-such-link-token"
    unknown_id: int = 0  # an id no row has (a wave, an invitation): 404 past the guards
    scim_id: str = "00000000-0000-0000-0000-000000000000"  # SCIM paths (no token: 401)
    scim_type: str = "User"
    scim_schema: str = "urn:ietf:params:scim:schemas:core:2.0:User"
    rollout_plan: object = None  # passkey rollout: a plan, its cohort, a wave in pilot
    cohort: object = None
    wave_exception: object = None  # an open exception of the case's person from enforcement

    def client(self, role: str, **options) -> Client:
        """A fresh client carrying ``role``'s session (anonymous: none)."""
        client = Client(**options)
        key = self.sessions.get(role)
        if key:
            client.cookies[settings.SESSION_COOKIE_NAME] = key
        return client


def build_world() -> World:
    world = World()
    agent = staff("agent", username="agent-a")
    world.users = {
        "agent": agent,
        "other_agent": staff("agent", username="agent-b"),
        "supervisor": staff("supervisor", username="supervisor-s"),
        "auditor": staff("auditor", username="auditor-u"),
        "security_admin": staff("security_admin", username="secadmin-x", is_staff=True),
    }
    case = recovery_case("high", agent=agent)
    pass_code_step(case, agent)
    world.attestation_step = step_of(case, "attestation")
    workflow.request_attestation(case, agent, world.attestation_step)
    world.attestation_token = attestation_token(case)
    case.refresh_from_db()
    world.case, world.step = case, step_of(case, "channel_code")
    end_user = case.identity.user
    world.users["end_user"] = end_user
    world.passkey, _soft = passkey_for(end_user)
    low = approved(recovery_case("low", agent=agent), agent)
    world.issued = workflow.issue_credential(low, agent)
    world.issued_case, world.credential = low, world.issued.credential
    today = timezone.now().date()
    world.report = draw_sample(world.users["auditor"], SampleRequest(
        title="Matrix sample", period_start=today, period_end=today, sample_size=1, seed=7,
        include_open=True))  # the world's cases are all open
    world.sampled_case_id = world.report.sampled.get().case_id
    world.alert = Alert.objects.create(identity=case.identity, case=low, kind="new_network",
                                       detail="Redeemed from an address not seen before.")
    world.review = InvolvementReview.objects.create(case=low, staff=agent, roles=["worked"])
    _rollout(world)
    for role, user in world.users.items():
        device = world.passkey if role == "end_user" else None
        client = sign_in_client(Client(), user, device=device)
        world.sessions[role] = client.cookies[settings.SESSION_COOKIE_NAME].value
    return world


def _rollout(world: World) -> None:
    from datetime import timedelta

    from recovery_console.rollout.models import Cohort, RolloutPlan, Wave, WaveException

    world.cohort = Cohort.objects.create(name="Everyone")
    world.rollout_plan = RolloutPlan.objects.create(name="Matrix plan")
    world.wave = Wave.objects.create(plan=world.rollout_plan, cohort=world.cohort, position=1)
    admin = world.users["security_admin"]
    world.wave_exception = WaveException.objects.create(
        wave=world.wave, identity=world.case.identity, stage=Wave.Stage.ENFORCE, owner=admin,
        reason="On leave", expires_at=timezone.now() + timedelta(days=7), created_by=admin)
