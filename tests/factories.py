import factory
from django.contrib.auth.models import Group
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Identity, User

PASSWORD = "correct-horse-battery-9"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        if extracted:
            # get_or_create: transactional tests flush the groups the migration made.
            self.groups.set([Group.objects.get_or_create(name=name)[0] for name in extracted])
        self.save()


class TOTPDeviceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TOTPDevice

    user = factory.SubFactory(UserFactory)
    name = "Authenticator"
    confirmed = True


def staff(*roles: str, **kwargs) -> User:
    """A staff member with the given roles and a confirmed TOTP device."""
    user = UserFactory(roles=list(roles), **kwargs)
    TOTPDeviceFactory(user=user)
    return user


def current_totp(user: User) -> str:
    device = TOTPDevice.objects.get(user=user)
    code = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token()
    return f"{code:06d}"


class IdentityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Identity

    user = factory.SubFactory(UserFactory)
    directory_id = factory.Sequence(lambda n: f"id-{n:05d}")
    display_name = factory.LazyAttribute(lambda i: f"{i.user.first_name} {i.user.last_name}")
    directory_phone = "+44 20 7946 0000"


# --- recovery -------------------------------------------------------------

class RecoveryChannelFactory(factory.django.DjangoModelFactory):
    """A channel registered and confirmed long before any recovery request."""

    class Meta:
        model = "accounts.RecoveryChannel"

    identity = factory.SubFactory(IdentityFactory)
    kind = "email"
    address = factory.LazyAttributeSequence(
        lambda c, n: f"+44 7700 9{n:05d}" if c.kind == "phone" else f"person{n}@example.org")
    verified_at = factory.LazyFunction(lambda: _days_ago(200))
    last_confirmed_at = factory.LazyFunction(lambda: _days_ago(10))
    changed_at = factory.LazyFunction(lambda: _days_ago(200))


def _days_ago(days: int):
    from datetime import timedelta

    from django.utils import timezone

    return timezone.now() - timedelta(days=days)


def reachable_identity(recent_email_change: bool = False, **fields) -> Identity:
    """An identity with an email and a phone channel, whose manager (also
    sponsor, partner administrator and owner) has an email channel of their
    own, for attestations. ``recent_email_change``: the email address changed
    two days ago (a risk signal; the phone stays trusted)."""
    voucher = fields.pop("manager", None)
    if voucher is None:
        voucher = IdentityFactory(display_name="Morgan Manager")
        RecoveryChannelFactory(identity=voucher, kind="email")
    identity = IdentityFactory(manager=voucher, sponsor=voucher, owner=voucher,
                               partner_admin=voucher, **fields)
    RecoveryChannelFactory(identity=identity, kind="email",
                           **({"changed_at": _days_ago(2)} if recent_email_change else {}))
    RecoveryChannelFactory(identity=identity, kind="phone")
    return identity


# Employees at each tier (the populations with stricter rules have tests of their own).
TIER_FIELDS = {
    "low": {},
    "medium": {"data_sensitivity": "medium"},
    "high": {"data_sensitivity": "high"},
    "restricted": {"data_sensitivity": "high", "recent_email_change": True},
}


def recovery_case(tier: str = "low", agent: User | None = None, *, pressure: bool = True,
                  **identity_fields):
    """A case opened at the desk for a reachable identity of ``tier``, claimed
    by ``agent`` when given (the opener is another agent), who answered the
    pressure checklist "none observed" first unless ``pressure`` is False
    (the checklist may be answered at any point while verifying)."""
    from recovery_console import workflow
    from recovery_console.models import RecoveryCase

    identity = reachable_identity(**{**TIER_FIELDS[tier], **identity_fields})
    case = workflow.open_case(identity, source=RecoveryCase.Source.DESK, actor=staff("agent"))
    assert case.tier == tier, (case.tier, case.tier_reasons)
    if agent is not None:
        workflow.claim(case, agent)
        if pressure:
            workflow.answer_pressure_checklist(case, agent, [], none_observed=True)
        case.refresh_from_db()
    return case
