"""Demo data: staff for every role and identities of every kind.

Idempotent: running it again leaves the same people with the same secrets,
so the printed sign-in instructions stay true.
"""

import base64
import hashlib
import random
import unicodedata
from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Identity, RecoveryChannel, User
from accounts.roles import Role

# Printed for the demo on purpose; seed_demo refuses to run with DEBUG off.
DEMO_PASSWORD = "demo-password-1234"  # noqa: S105  # nosec B105

STAFF = [
    ("agent", "Alex Agent", [Role.AGENT]),
    ("agent2", "Bea Agent", [Role.AGENT]),
    ("supervisor", "Sam Supervisor", [Role.SUPERVISOR]),
    ("supervisor2", "Sasha Supervisor", [Role.SUPERVISOR]),
    ("auditor", "Ada Auditor", [Role.AUDITOR]),
    ("secadmin", "Sol Security", [Role.SECURITY_ADMIN]),
]

FIRST = ["Amira", "Ben", "Chloé", "Dev", "Erin", "Farid", "Grace", "Hugo", "Ines", "Jonas",
         "Kemi", "Liam", "Maya", "Noor", "Oskar", "Priya", "Quinn", "Rosa", "Sven", "Tariq"]
LAST = ["Okafor", "Lindqvist", "Moreau", "Patel", "Walsh", "Haddad", "Kim", "Novak",
        "Garcia", "Schmidt", "Adeyemi", "Rossi", "Tanaka", "Fischer", "Silva"]


def ascii_address(address: str) -> str:
    """Chloé's mailbox is chloe@...: accents dropped, as mail systems expect."""
    folded = unicodedata.normalize("NFKD", address).encode("ascii", "ignore").decode()
    return folded.lower()


def demo_totp_key(username: str) -> str:
    """A fixed TOTP key per demo account (hex), so re-seeding keeps it."""
    return hashlib.sha256(f"recovery-console-demo:{username}".encode()).hexdigest()[:40]


class Command(BaseCommand):
    help = "Create demo staff for every role and a few dozen identities of every kind."

    def add_arguments(self, parser):
        parser.add_argument("--allow-production", action="store_true",
                            help="Seed even with DEBUG off (never on a real deployment).")

    @transaction.atomic
    def handle(self, *args, allow_production: bool = False, **options):
        if not settings.DEBUG and not allow_production:
            raise CommandError(
                "Refusing to seed demo accounts with known passwords when DEBUG is off."
            )
        # Demo names, not secrets.
        rng = random.Random(20261125)  # noqa: S311  # nosec B311
        self.now = timezone.now()
        staff = [self._staff(username, name, roles) for username, name, roles in STAFF]
        self._identities(rng, staff)
        if options["verbosity"]:
            self._print_instructions()

    def _staff(self, username: str, full_name: str, roles: list[Role]) -> User:
        first, last = full_name.split(" ", 1)
        user, _ = User.objects.get_or_create(username=username)
        user.first_name, user.last_name = first, last
        user.email = f"{username}@example.org"
        user.is_staff = Role.SECURITY_ADMIN in roles
        user.is_superuser = False
        user.set_password(DEMO_PASSWORD)
        user.save()
        user.groups.set(Group.objects.filter(name__in=roles))
        TOTPDevice.objects.update_or_create(
            user=user, name="Demo authenticator",
            defaults={"key": demo_totp_key(username), "confirmed": True, "last_t": -1},
        )
        identity, _ = Identity.objects.update_or_create(
            directory_id=f"staff-{username}",
            defaults={"display_name": full_name, "user": user, "department": "Service desk"},
        )
        self._channels(identity, "fresh")
        return user

    def _identities(self, rng: random.Random, staff: list[User]) -> None:
        names = iter(rng.sample([f"{first} {last}" for first in FIRST for last in LAST], 80))
        managers = [self._identity(f"mgr-{i:02d}", next(names), department="Operations",
                                   privileged=(i == 0)) for i in range(4)]
        for i in range(24):
            self._identity(
                f"emp-{i:03d}", next(names), manager=rng.choice(managers),
                department=rng.choice(["Finance", "Engineering", "Sales", "HR", "Legal"]),
                privileged=i % 11 == 0,
                channels="stale" if i % 7 == 3 else "changed" if i % 9 == 4 else "fresh",
                data_sensitivity=rng.choice(list(Identity.Sensitivity)),
                traveller=i % 5 == 0,
            )
        for i in range(10):
            self._identity(
                f"ctr-{i:03d}", next(names), kind=Identity.Kind.CONTRACTOR,
                sponsor=rng.choice(managers),
                contract_ends_on=date.today() + timedelta(days=(-10 if i == 9 else 30 * (i + 1))),
            )
        partners = [self._identity(
            f"ptn-{i:03d}", next(names), kind=Identity.Kind.PARTNER,
            sponsor=rng.choice(managers),
            partner_organisation=["Northwind Logistics", "Contoso Audit"][i % 2],
        ) for i in range(8)]
        # The first partner of each organisation is its designated administrator,
        # who attests for the others (partners' recoveries need that attestation).
        for i, partner in enumerate(partners[2:], start=2):
            partner.partner_admin = partners[i % 2]
            partner.save(update_fields=["partner_admin"])
        for i, purpose in enumerate(["payroll-export", "backup-runner", "ci-deployer", "sso-bridge",
                                     "report-mailer", "hr-sync"]):
            Identity.objects.update_or_create(
                directory_id=f"svc-{purpose}",
                defaults={"display_name": f"Service account {purpose}",
                          "kind": Identity.Kind.SERVICE_ACCOUNT,
                          "owner": managers[i % len(managers)],
                          "data_sensitivity": Identity.Sensitivity.HIGH},
            )

    def _identity(self, directory_id: str, name: str, channels: str = "fresh",
                  **fields) -> Identity:
        username = directory_id
        user, _ = User.objects.get_or_create(username=username)
        first, last = name.split(" ", 1)
        user.first_name, user.last_name = first, last
        user.email = ascii_address(f"{first}.{last}@example.org")
        user.set_unusable_password()
        user.save()
        phone = "+44 20 7946 " + f"{int(hashlib.sha256(name.encode()).hexdigest(), 16) % 10000:04d}"
        identity, _ = Identity.objects.update_or_create(
            directory_id=directory_id,
            defaults={"display_name": name, "user": user, "directory_phone": phone, **fields},
        )
        self._channels(identity, channels)
        return identity

    def _channels(self, identity: Identity, state: str) -> None:
        """Email and phone on file; ``state`` is fresh, stale (unconfirmed for
        over a year) or changed (an address changed two days ago)."""
        digest = int(hashlib.sha256(identity.directory_id.encode()).hexdigest(), 16)
        confirmed = self._days_ago(400 if state == "stale" else 1 + digest % 60)
        changed = self._days_ago(2 if state == "changed" else 90 + digest % 600)
        mobile = f"+44 7700 9{digest % 100000:05d}"
        for kind, address in ((RecoveryChannel.Kind.EMAIL, identity.user.email),
                              (RecoveryChannel.Kind.PHONE, mobile)):
            RecoveryChannel.objects.update_or_create(
                identity=identity, kind=kind,
                defaults={"address": address, "verified_at": changed,
                          "last_confirmed_at": confirmed, "changed_at": changed},
            )
        if digest % 3 == 0:
            device = TOTPDevice.objects.filter(user=identity.user).first()
            if device is None:
                device = TOTPDevice.objects.create(
                    user=identity.user, name="Authenticator app", confirmed=True,
                    key=demo_totp_key(identity.directory_id),
                )
            RecoveryChannel.objects.update_or_create(
                identity=identity, kind=RecoveryChannel.Kind.TOTP,
                defaults={"totp_device": device, "verified_at": changed,
                          "last_confirmed_at": confirmed, "changed_at": changed},
            )

    def _days_ago(self, days: int) -> datetime:
        return self.now - timedelta(days=days)

    def _print_instructions(self) -> None:
        out = self.stdout
        out.write(self.style.SUCCESS("Demo data ready."))
        for line in sign_in_instructions("http://localhost:8000", keys=True):
            out.write(line)
        out.write(f"Identities: {Identity.objects.count()} "
                  f"(employees, contractors, partners, service accounts).")


def sign_in_instructions(site: str, keys: bool = False) -> list[str]:
    """How the demo staff sign in at ``site``: printed by this command and,
    once the console answers, last by ``make run`` (``demo_welcome``)."""
    lines = [f"Staff sign in at {site}/accounts/sign-in/ with",
             f"  password: {DEMO_PASSWORD}",
             "  authenticator code: `python manage.py demo_totp USERNAME` prints it"
             + (", or add the key below to any TOTP app (base32):" if keys else ".")]
    for username, _name, roles in STAFF:
        key = base64.b32encode(bytes.fromhex(demo_totp_key(username))).decode() if keys else ""
        lines.append(f"  {username:<12} {', '.join(r.value for r in roles):<16} {key}".rstrip())
    lines.append(f"Example current code for 'agent': {current_code('agent')}")
    return lines


def current_code(username: str) -> str:
    return f"{totp(bytes.fromhex(demo_totp_key(username))):06d}"
