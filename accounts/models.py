"""People and accounts: staff users, and the identities whose access the
console restores."""

import secrets
from datetime import timedelta

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice

from .identifiers import (
    canonical,
    name_key,
    phone_key,
    validate_identifier,
    validate_one_line_identifier,
)
from .timezones import validate_time_zone
from .validators import validate_no_control_characters

ONE_LINE = [validate_no_control_characters]


def new_user_handle() -> str:
    return secrets.token_hex(32)


class User(AbstractUser):
    """A person who signs in: staff (by role group) or an identity's own account."""

    # Shown on every staff page and in the audit trail: one line each.
    first_name = models.CharField("first name", max_length=150, blank=True,
                                  validators=ONE_LINE)
    last_name = models.CharField("last name", max_length=150, blank=True, validators=ONE_LINE)
    # WebAuthn user handle: random, never the username or the primary key.
    passkey_handle = models.CharField(max_length=64, unique=True, default=new_user_handle)
    # Every session signed in before this moment is over (set when access is
    # recovered or repudiated): one row to write, however many sessions exist.
    sessions_valid_after = models.DateTimeField(null=True, blank=True)
    email = models.EmailField("email address", blank=True, validators=[validate_identifier])
    # The email's canonical form (accounts.identifiers), kept by save(): what
    # a self-service request is matched against. Not unique: see SECURITY.md.
    email_key = models.TextField(blank=True, db_index=True, editable=False)
    # IANA name; empty: the zone the browser reports, else UTC.
    time_zone = models.CharField(
        "time zone", max_length=64, blank=True, validators=[validate_time_zone],
        help_text="Times on pages show in this zone. Empty: your browser's zone.")

    class Meta:
        db_table = "accounts_user"

    def save(self, *args, **kwargs):
        self.email_key = canonical(self.email)
        if kwargs.get("update_fields") is not None and "email" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], "email_key"}
        super().save(*args, **kwargs)


class Identity(models.Model):
    """A person or account whose access can be recovered."""

    class Kind(models.TextChoices):
        EMPLOYEE = "employee", "Employee"
        CONTRACTOR = "contractor", "Contractor"
        PARTNER = "partner", "Partner"
        SERVICE_ACCOUNT = "service_account", "Shared service account"

    class Sensitivity(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"

    user = models.OneToOneField(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="identity"
    )
    directory_id = models.CharField(
        "directory id",
        max_length=64,
        unique=True,
        help_text="Identifier in the HR or partner directory.",
        validators=[validate_identifier],
    )
    # The directory id's canonical form (accounts.identifiers), kept by save():
    # unique, so two ids that differ only in case or width cannot both exist.
    directory_key = models.TextField(unique=True, editable=False)
    display_name = models.CharField(max_length=150, validators=ONE_LINE)
    # The display name's searchable form (accounts.identifiers.name_key), kept
    # by save(): the queue's search matches a part of it.
    name_key = models.TextField(blank=True, editable=False)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.EMPLOYEE)
    privileged = models.BooleanField(
        default=False, help_text="Administrators and executives: always high tier or above."
    )
    data_sensitivity = models.CharField(
        max_length=10, choices=Sensitivity.choices, default=Sensitivity.LOW
    )
    traveller = models.BooleanField(default=False)
    department = models.CharField(max_length=100, blank=True, validators=ONE_LINE)
    partner_organisation = models.CharField(max_length=150, blank=True, validators=ONE_LINE)
    contract_ends_on = models.DateField(null=True, blank=True)
    directory_phone = models.CharField(
        max_length=32, blank=True, help_text="The number agents call back, from the directory.",
        validators=ONE_LINE,
    )
    manager = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reports"
    )
    sponsor = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="sponsored"
    )
    owner = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_accounts"
    )
    partner_admin = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="administered",
        help_text="Partners: their organisation's designated administrator, who attests.",
    )
    is_active = models.BooleanField("active", default=True)
    created_at = models.DateTimeField(default=timezone.now)
    # The directory source that manages this identity (recovery_console.directory):
    # the fields it maps are edited at the source, never here. Null: typed in
    # the console.
    directory_source = models.ForeignKey(
        "directory.DirectorySource", null=True, blank=True, on_delete=models.PROTECT,
        related_name="identities", editable=False, verbose_name="managed by")
    external_id = models.CharField("id at the source", max_length=255, blank=True,
                                   editable=False)

    class Meta:
        verbose_name_plural = "identities"
        ordering = ["display_name"]
        indexes = [models.Index(fields=["kind", "is_active"])]
        constraints = [
            models.UniqueConstraint(
                fields=["directory_source", "external_id"],
                condition=models.Q(directory_source__isnull=False),
                name="one_identity_per_source_id",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="service_account") | models.Q(owner__isnull=False),
                name="service_account_has_owner",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.directory_id})"

    def save(self, *args, **kwargs):
        self.directory_key = canonical(self.directory_id)
        self.name_key = name_key(self.display_name)
        if kwargs.get("update_fields") is not None:
            fields = set(kwargs["update_fields"])
            if "directory_id" in fields:
                fields.add("directory_key")
            if "display_name" in fields:
                fields.add("name_key")
            kwargs["update_fields"] = fields
        super().save(*args, **kwargs)

    def clean(self):
        """Refuse, with a message on the field, a directory id another identity
        already has in canonical form (the database refuses it regardless)."""
        super().clean()
        taken = Identity.objects.filter(directory_key=canonical(self.directory_id or ""))
        if self.directory_id and taken.exclude(pk=self.pk).exists():
            raise ValidationError({"directory_id": (
                "Another identity already has this directory id, or one that differs only in "
                "letter case or character width.")})


class PasskeyCredential(Device):
    """A WebAuthn credential. Also a django-otp device, so a session signed
    in with a passkey counts as verified exactly like one signed in with TOTP."""

    credential_id = models.CharField(max_length=1400, unique=True, help_text="base64url")
    public_key = models.BinaryField()
    sign_count = models.PositiveBigIntegerField(default=0)
    transports = models.JSONField(default=list, blank=True)
    aaguid = models.CharField(max_length=36, blank=True)
    backed_up = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def verify_token(self, token) -> bool:
        return False  # a passkey is verified by a WebAuthn ceremony, never by a typed code

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class RecoveryChannel(models.Model):
    """A way to reach an identity that was trusted before any recovery request."""

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        PHONE = "phone", "Phone (SMS/voice)"
        TOTP = "totp", "Authenticator app"

    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="channels")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    address = models.CharField(
        max_length=254, blank=True, help_text="Email address or phone number",
        validators=[validate_one_line_identifier],
    )
    # Email channels: the address's canonical form (accounts.identifiers),
    # kept by save(); what a self-service request is matched against.
    address_key = models.TextField(blank=True, db_index=True, editable=False)
    # Phone channels: the number's digits (accounts.identifiers.phone_key),
    # kept by save(); what the queue's search matches a number against.
    phone_key = models.TextField(blank=True, db_index=True, editable=False)
    totp_device = models.OneToOneField(
        TOTPDevice, null=True, blank=True, on_delete=models.SET_NULL, related_name="channel"
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    last_confirmed_at = models.DateTimeField(null=True, blank=True)
    changed_at = models.DateTimeField(default=timezone.now)
    stale_since = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Taken from the identity's directory source, which changes or revokes it.
    from_directory = models.BooleanField(default=False, editable=False)

    class Meta:
        ordering = ["kind", "address"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind="totp") | ~models.Q(address=""),
                name="channel_email_or_phone_has_address",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.masked_address}".strip()

    def save(self, *args, **kwargs):
        self.address_key = canonical(self.address) if self.kind == self.Kind.EMAIL else ""
        self.phone_key = phone_key(self.address) if self.kind == self.Kind.PHONE else ""
        if kwargs.get("update_fields") is not None and \
                {"address", "kind"} & set(kwargs["update_fields"]):
            kwargs["update_fields"] = {*kwargs["update_fields"], "address_key", "phone_key"}
        super().save(*args, **kwargs)

    @property
    def masked_address(self) -> str:
        """What staff pages show: enough to tell channels apart, not to use them."""
        if self.kind == self.Kind.EMAIL and "@" in self.address:
            local, domain = self.address.split("@", 1)
            return f"{local[:1]}***@{domain}"
        if self.kind == self.Kind.PHONE:
            return f"***{self.address[-3:]}"
        return ""

    def is_usable(self, max_age: timedelta, now=None) -> bool:
        """Verified, not revoked, and confirmed within ``max_age``."""
        now = now or timezone.now()
        return (
            self.revoked_at is None
            and self.verified_at is not None
            and self.last_confirmed_at is not None
            and now - self.last_confirmed_at <= max_age
        )

    def changed_within(self, period: timedelta, now=None) -> bool:
        return (now or timezone.now()) - self.changed_at <= period
