"""Event sources (who may post sign-in events, with which secret), the nonces
that make each signed request single use, and the events themselves."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from accounts.validators import validate_no_control_characters

from ..machine_clients import MachineClient

ONE_LINE = [validate_no_control_characters]


class EventSource(MachineClient):
    """An identity provider or SIEM relay that posts sign-in events. Its
    signing secret is shown once when a security admin registers it and kept
    only sealed (the endpoint must recompute the HMAC, so a one-way hash
    cannot serve); revoking it refuses its next request."""

    # What the sender names itself by in the signature header (k=): public.
    key_id = models.CharField(max_length=40, unique=True, editable=False)
    secret_sealed = models.TextField(editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = "sign-in event source"

    def __str__(self) -> str:
        return self.name

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class EventNonce(models.Model):
    """A nonce a source already used: the same signed request twice is a
    replay. Kept at least as long as a timestamp is accepted, then pruned."""

    source = models.ForeignKey(EventSource, on_delete=models.CASCADE, related_name="nonces")
    nonce = models.CharField(max_length=64)
    seen_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "nonce"],
                                               name="event_nonce_once_per_source")]
        indexes = [models.Index(fields=["seen_at"], name="event_nonce_seen_idx")]

    def __str__(self) -> str:
        return f"{self.source_id}:{self.nonce}"


class SignInEvent(models.Model):
    """One event a source reported: what happened, to whom (matched by
    directory id; none when no identity answers to the subject), from where."""

    class Kind(models.TextChoices):
        SIGN_IN = "sign_in", "Sign-in"
        ADMIN_ACCESS = "admin_access", "Admin application access"
        DEVICE_ADDED = "device_added", "Device or factor added"

    source = models.ForeignKey(EventSource, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    subject = models.CharField(max_length=255, help_text="The directory id as the source sent it.")
    identity = models.ForeignKey("accounts.Identity", null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="signin_events")
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    ip = models.GenericIPAddressField(null=True, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    anonymous_proxy = models.BooleanField(default=False)
    device_id = models.CharField(max_length=200, blank=True)
    credential_id = models.CharField(max_length=1400, blank=True, help_text="WebAuthn, base64url")
    application = models.CharField(max_length=200, blank=True)
    admin = models.BooleanField(default=False)
    # The recovery it was linked to (watched, or open with its lost passkey).
    case = models.ForeignKey("recovery.RecoveryCase", null=True, blank=True,
                             on_delete=models.PROTECT, related_name="signin_events")

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [models.Index(fields=["identity", "occurred_at"], name="signin_event_who_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.subject}"
