"""Demo data for the recovery workflow: registered channels for demo
identities that have none, and a few open cases of every tier.

Run after ``seed_demo``. Idempotent: channels are added only where missing,
and a case is opened only for an identity without an open one.
"""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from accounts.models import Identity, RecoveryChannel, User
from recovery_console import workflow
from recovery_console.models import RecoveryCase

# One open case per tier, on identities the demo seed creates.
DEMO_CASES = [
    {"kind": "employee", "privileged": False, "data_sensitivity": "low",
     "directory_id__startswith": "emp-"},
    {"kind": "contractor"},
    {"kind": "employee", "privileged": True, "directory_id__startswith": "emp-"},
    {"kind": "service_account"},
]


class Command(BaseCommand):
    help = "Give demo identities registered channels and open a few recovery cases."

    def add_arguments(self, parser):
        parser.add_argument("--allow-production", action="store_true")

    @transaction.atomic
    def handle(self, *args, allow_production: bool = False, **options):
        if not settings.DEBUG and not allow_production:
            raise CommandError("Refusing to seed demo recovery data when DEBUG is off.")
        now = timezone.now()
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
        opener = User.objects.filter(username="agent").first()
        opened = 0
        for criteria in DEMO_CASES:
            candidates = Identity.objects.filter(**criteria).order_by("directory_id")
            if candidates.filter(recovery_cases__state__in=RecoveryCase.OPEN_STATES).exists():
                continue
            identity = candidates.first()
            if identity is None or opener is None:
                continue
            workflow.open_case(identity, source=RecoveryCase.Source.DESK, actor=opener)
            opened += 1
        history = self._history(opener, now)
        self.stdout.write(self.style.SUCCESS(
            f"Channels added for {added} identities; {opened} recovery cases opened; "
            f"{history} closed cases of the past year for auditors to sample. "
            "With DEBUG on, /outbox/ shows what each channel received."))

    def _history(self, opener: User | None, now) -> int:
        """A year of closed cases (an import of earlier history: opened through
        the workflow, then dated and closed), so auditors have something to
        sample. Added once."""
        agents = list(User.objects.filter(username__in=["agent", "agent2"]).order_by("username"))
        if opener is None or not agents or RecoveryCase.objects.filter(
                state__in=HISTORY_OUTCOMES).exists():
            return 0
        people = (Identity.objects.filter(kind__in=["employee", "contractor"], is_active=True)
                  .exclude(recovery_cases__state__in=RecoveryCase.OPEN_STATES)
                  .exclude(kind="contractor", contract_ends_on__lt=now.date())
                  .exclude(directory_id__startswith="staff-").order_by("directory_id"))
        made = 0
        for i, identity in enumerate(people[:HISTORY_SIZE]):
            try:
                case = workflow.open_case(identity, source=RecoveryCase.Source.DESK, actor=opener)
            except workflow.WorkflowError:
                continue
            agent = agents[i % len(agents)]
            workflow.claim(case, agent)
            opened = now - timedelta(days=5 + (i * 353) % 360, hours=i % 9)
            state = HISTORY_OUTCOMES[i % len(HISTORY_OUTCOMES)]
            hours_to_verify = 1 + (i * 7) % 11 if agent.username == "agent" else 0.2
            RecoveryCase.objects.filter(pk=case.pk).update(
                opened_at=opened, claimed_at=opened + timedelta(minutes=10),
                verified_at=(opened + timedelta(hours=hours_to_verify)
                             if state != "denied" or i % 2 else None),
                state=state, closed_at=opened + timedelta(hours=hours_to_verify + 2),
                updated_at=opened + timedelta(hours=hours_to_verify + 2),
                deadline=opened + timedelta(days=3),
                closing_reason="Demo history.")
            made += 1
        return made


HISTORY_SIZE = 30
HISTORY_OUTCOMES = ["completed", "completed", "denied", "expired", "completed", "cancelled"]
