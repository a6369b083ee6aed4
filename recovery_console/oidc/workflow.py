"""The provider's decisions: which applications may be registered, and who
may be signed in to one. Admin pages and the authorization endpoint call
these; django-oauth-toolkit does the protocol around them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.http import HttpRequest
from oauth2_provider.models import AbstractApplication, get_application_model

from accounts.models import PasskeyCredential, User
from accounts.roles import Role
from accounts.stepup import SIGNED_IN_AT
from audit.events import record

from .. import clock
from ..refusal import WorkflowError
from ..workflow.base import _decision
from ..workflow.rules import _require_role
from .models import Subject

Application = get_application_model()

# RFC 8176: a passkey is proof of possession of a key held by an authenticator
# ("hwk", "pop"); the staff sign-in is a password and a one-time code.
PASSKEY_AMR = ["hwk", "pop"]
PASSWORD_AND_TOTP_AMR = ["pwd", "otp", "mfa"]


@dataclass(frozen=True)
class SignIn:
    """What an ID token says about how its person signed in."""

    amr: list[str]
    auth_time: datetime


def sign_in_facts(request: HttpRequest) -> SignIn:
    """How this session was signed in: the device django-otp verified at
    sign-in (a passkey, or a TOTP device after a password) and when."""
    device = getattr(request.user, "otp_device", None)
    amr = PASSKEY_AMR if isinstance(device, PasskeyCredential) else PASSWORD_AND_TOTP_AMR
    at = request.session.get(SIGNED_IN_AT)
    return SignIn(amr=list(amr), auth_time=datetime.fromisoformat(at) if at else clock.now())


@_decision("application_register", actor="actor")
def register_application(application: AbstractApplication, actor: User, *,
                         request: HttpRequest | None = None) -> AbstractApplication:
    """A security admin registers (or changes) an application that signs people
    in through the provider. Only the authorization code flow (PKCE is always
    required) with ID tokens signed RS256; the organisation's registration is
    its consent, so nobody is asked again at sign-in."""
    _require_role(actor, Role.SECURITY_ADMIN)
    if application.authorization_grant_type != Application.GRANT_AUTHORIZATION_CODE:
        raise WorkflowError("Applications sign in with the authorization code flow only.",
                            reason="grant_type", status=WorkflowError.BAD_REQUEST)
    if application.algorithm != Application.RS256_ALGORITHM:
        raise WorkflowError("ID tokens are signed with RS256 only.", reason="signing_algorithm",
                            status=WorkflowError.BAD_REQUEST)
    if not application.redirect_uris.split():
        raise WorkflowError("Give the application's redirect URI.", reason="redirect_uri",
                            status=WorkflowError.BAD_REQUEST)
    created = application.pk is None
    application.skip_authorization = True
    application.hash_client_secret = True
    application.user = None
    application.save()
    record("application_registered" if created else "application_changed",
           target=application, actor=actor, request=request, name=application.name,
           client_id=application.client_id, redirect_uris=application.redirect_uris.split(),
           client_type=application.client_type)
    return application


@_decision("application_sign_in", actor="user")
def sign_in_to_application(user: User, application: AbstractApplication, facts: SignIn, *,
                           request: HttpRequest | None = None) -> SignIn:
    """Sign ``user`` in to ``application``: only a person whose access the console
    restores (an active identity) is a user of the provider; a staff account
    that is no identity is refused. Recorded with how they signed in."""
    identity = getattr(user, "identity", None)
    if identity is None:
        raise WorkflowError("This account is a staff account, not a person's identity: "
                            "applications sign in people with their own account.",
                            reason="not_an_identity", status=WorkflowError.FORBIDDEN,
                            target=application)
    if not identity.is_active or not user.is_active:
        raise WorkflowError("This account is not active.", reason="identity_inactive",
                            status=WorkflowError.FORBIDDEN, target=application)
    if facts.amr != list(PASSKEY_AMR):
        # The rollout's door holds here too: a session from a password sign-in
        # (made before the person's wave enforced, say) opens no application
        # once a wave they belong to requires a passkey.
        from ..rollout import enforcement

        if enforcement.standing(user, clock.now()).refusing:
            raise WorkflowError(enforcement.PASSKEY_REQUIRED, reason="passkey_required",
                                status=WorkflowError.FORBIDDEN, target=application)
    Subject.objects.get_or_create(identity=identity)
    record("application_signed_in", target=application, actor=user, request=request,
           identity=identity.pk, amr=facts.amr)
    return facts


def subject_of(user: User) -> str:
    """The ``sub`` of ``user``'s identity (made at its first sign-in)."""
    return Subject.objects.get_or_create(identity=user.identity)[0].value
