"""People and accounts: staff users, and the identities whose access the
console restores."""

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone


class User(AbstractUser):
    """A person who signs in: staff (by role group) or an identity's own account."""

    class Meta:
        db_table = "accounts_user"


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
    )
    display_name = models.CharField(max_length=150)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.EMPLOYEE)
    privileged = models.BooleanField(
        default=False, help_text="Administrators and executives: always high tier or above."
    )
    data_sensitivity = models.CharField(
        max_length=10, choices=Sensitivity.choices, default=Sensitivity.LOW
    )
    traveller = models.BooleanField(default=False)
    department = models.CharField(max_length=100, blank=True)
    partner_organisation = models.CharField(max_length=150, blank=True)
    contract_ends_on = models.DateField(null=True, blank=True)
    directory_phone = models.CharField(
        max_length=32, blank=True, help_text="The number agents call back, from the directory."
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
    is_active = models.BooleanField("active", default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "identities"
        ordering = ["display_name"]
        indexes = [models.Index(fields=["kind", "is_active"])]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(kind="service_account") | models.Q(owner__isnull=False),
                name="service_account_has_owner",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.directory_id})"
