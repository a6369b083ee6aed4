"""What every machine client of the console keeps (a SCIM client, a source
of sign-in events): a name, who registered it and when, who revoked it and
when (its next request is refused), and when it was last used. Each client
adds its own credential: a keyed hash of a bearer token, or a sealed
signing secret."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.validators import validate_no_control_characters


class MachineClient(models.Model):
    name = models.CharField(max_length=100, unique=True,
                            validators=[validate_no_control_characters])
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, editable=False,
                                   on_delete=models.PROTECT, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   editable=False, on_delete=models.PROTECT, related_name="+")
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        abstract = True
        ordering = ["name"]
