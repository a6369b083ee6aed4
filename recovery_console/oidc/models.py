"""What the provider keeps beside django-oauth-toolkit's own tables: the
subject each identity has at every application, and how the person signed
in when they authorized one (for the ID token's ``amr`` and ``auth_time``)."""

import secrets

from django.db import models

from accounts.models import Identity


def new_subject() -> str:
    return secrets.token_hex(16)


class Subject(models.Model):
    """An identity's ``sub`` at the applications: random, never the username
    nor a database key, so it survives a renamed account and says nothing."""

    identity = models.OneToOneField(Identity, on_delete=models.CASCADE,
                                    related_name="openid_subject")
    value = models.CharField(max_length=64, unique=True, default=new_subject, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.value


class SignInContext(models.Model):
    """How the session that authorized a code was signed in; read when the
    code is exchanged, gone with the code (one row per authorization code)."""

    grant = models.OneToOneField("oauth2_provider.Grant", on_delete=models.CASCADE,
                                 related_name="sign_in_context")
    amr = models.JSONField(help_text="RFC 8176 authentication method references.")
    auth_time = models.DateTimeField()

    def __str__(self) -> str:
        return f"{' '.join(self.amr)} at {self.auth_time:%Y-%m-%d %H:%M}"
