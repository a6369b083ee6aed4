"""Passkeys (WebAuthn) with py_webauthn, written once for staff and end users.

Each ceremony's challenge is kept in the server-side session and popped the
moment a response comes back, so it is used at most once and only by the
session that asked for it. User verification is always required. Every
refusal is audited and stores nothing.

Ceremonies only: storing or revoking the passkey row with its audit entry.
What a passkey change owes in the recovery domain (the owner told on every
channel, a watch-period alert) is ``recovery_console.workflow``'s
``passkey_added`` and ``revoke_passkey``; this module never imports from
there (tests/test_layers.py keeps it so).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    parse_authentication_credential_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import (
    InvalidAuthenticationResponse,
    InvalidCBORData,
    InvalidJSONStructure,
    InvalidRegistrationResponse,
)
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from audit.events import record

from .models import PasskeyCredential, User
from .validators import CONTROL_CHARACTERS

MAX_BODY_BYTES = 16 * 1024
CEREMONY_SECONDS = 300
REGISTRATION_KEY = "passkey:registration"
AUTHENTICATION_KEY = "passkey:authentication"
KNOWN_TRANSPORTS = {t.value for t in AuthenticatorTransport}


class PasskeyError(Exception):
    """A passkey ceremony was refused; ``message`` is safe to show."""

    def __init__(self, message: str, reason: str = "refused"):
        super().__init__(message)
        self.message = message
        self.reason = reason


def registration_options(request: HttpRequest, user: User) -> str:
    """Options for navigator.credentials.create(), as JSON; remembers the challenge."""
    _refuse_if_disabled(user)
    options = generate_registration_options(
        rp_id=settings.WEBAUTHN_RP_ID,
        rp_name=settings.WEBAUTHN_RP_NAME,
        user_id=bytes.fromhex(user.passkey_handle),
        user_name=user.get_username(),
        user_display_name=user.get_full_name() or user.get_username(),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(cid))
            for cid in user.passkeycredential_set.filter(revoked_at__isnull=True)
            .values_list("credential_id", flat=True)
        ],
    )
    _remember(request, REGISTRATION_KEY, options.challenge, user)
    return options_to_json(options)


def one_line_label(text) -> str:
    """The passkey's name as one line of at most 64 characters. Not refused:
    the authenticator has already made the passkey when the name arrives."""
    return " ".join(CONTROL_CHARACTERS.sub(" ", str(text)).split())[:64] or "Passkey"


def register_passkey(request: HttpRequest, user: User, body: bytes,
                     name: str = "Passkey", *,
                     on_stored: Callable[[PasskeyCredential], None] | None = None,
                     ) -> PasskeyCredential:
    """Verify a registration response and store the new passkey for ``user``;
    ``on_stored`` runs in the storing transaction (see ``store_passkey``)."""
    try:
        challenge = _take(request, REGISTRATION_KEY, user)
        _refuse_if_disabled(user)
        payload = _load(body)
        credential = _parse(parse_registration_credential_json, payload.get("credential"))
        try:
            verified = verify_registration_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=settings.WEBAUTHN_RP_ID,
                expected_origin=list(settings.WEBAUTHN_ORIGINS),
                require_user_verification=True,
            )
        except InvalidRegistrationResponse as exc:
            raise PasskeyError(f"The passkey could not be verified: {exc}", "invalid") from exc
        label = one_line_label(payload.get("name") or name)
        try:
            passkey = store_passkey(
                user, name=label, credential_id=bytes_to_base64url(verified.credential_id),
                public_key=verified.credential_public_key, sign_count=verified.sign_count,
                transports=_transports(credential), aaguid=verified.aaguid,
                backed_up=verified.credential_backed_up, request=request,
                on_stored=on_stored,
            )
        except IntegrityError as exc:
            raise PasskeyError("This passkey is already registered.", "duplicate") from exc
    except PasskeyError as refusal:
        record("passkey_registration_refused", target=user, actor=None, request=request,
               reason=refusal.reason)
        raise
    return passkey


def store_passkey(user: User, *, name: str, credential_id: str, public_key: bytes,
                  sign_count: int = 0, transports: list[str] | None = None, aaguid: str = "",
                  backed_up: bool = False, request: HttpRequest | None = None,
                  created_at: datetime | None = None,
                  on_stored: Callable[[PasskeyCredential], None] | None = None,
                  ) -> PasskeyCredential:
    """Keep a passkey whose registration was verified, with its audit entry.
    Only ``register_passkey`` (after the ceremony) and the demo history call it;
    the history passes ``created_at``, the moment it replays.

    What the new passkey means beyond this app (the owner told, a watch-period
    alert: the recovery workflow's ``passkey_added``) is the caller's to add:
    ``on_stored`` runs inside this transaction, so the passkey is never kept
    without it. This module imports nothing from above ``accounts``."""

    with transaction.atomic():
        passkey = PasskeyCredential.objects.create(
            user=user, name=name, confirmed=True, credential_id=credential_id,
            public_key=public_key, sign_count=sign_count, transports=transports or [],
            aaguid=aaguid, backed_up=backed_up, created_at=created_at or timezone.now(),
        )
        record("passkey_registered", target=passkey, actor=user, request=request,
               passkey=passkey.pk)
        if on_stored is not None:
            on_stored(passkey)
    return passkey


def authentication_options(request: HttpRequest, user: User | None = None) -> str:
    """Options for navigator.credentials.get(), as JSON; remembers the challenge.

    With ``user`` (a step-up), only that person's passkeys are offered and
    accepted; without, any discoverable passkey may answer (sign-in)."""
    allow = []
    if user is not None:
        allow = [
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(cid))
            for cid in user.passkeycredential_set.filter(revoked_at__isnull=True)
            .values_list("credential_id", flat=True)
        ]
    options = generate_authentication_options(
        rp_id=settings.WEBAUTHN_RP_ID,
        allow_credentials=allow,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    _remember(request, AUTHENTICATION_KEY, options.challenge, user)
    return options_to_json(options)


def authenticate_passkey(request: HttpRequest, body: bytes,
                         user: User | None = None) -> PasskeyCredential:
    """Verify an authentication response; return the passkey that signed it."""
    passkey = None
    try:
        challenge = _take(request, AUTHENTICATION_KEY, user)
        payload = _load(body)
        credential = _parse(parse_authentication_credential_json, payload.get("credential"))
        passkey = (
            PasskeyCredential.objects.select_related("user", "user__identity")
            .filter(credential_id=credential.id, revoked_at__isnull=True, confirmed=True)
            .first()
        )
        if passkey is None or (user is not None and passkey.user_id != user.pk):
            raise PasskeyError("This passkey is not registered here, or was revoked.", "unknown")
        _refuse_if_disabled(passkey.user)
        try:
            verified = verify_authentication_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=settings.WEBAUTHN_RP_ID,
                expected_origin=list(settings.WEBAUTHN_ORIGINS),
                credential_public_key=bytes(passkey.public_key),
                credential_current_sign_count=passkey.sign_count,
                require_user_verification=True,
            )
        except InvalidAuthenticationResponse as exc:
            raise PasskeyError(f"The passkey could not be verified: {exc}", "invalid") from exc
        # Conditional update: of two concurrent uses of one response, one wins.
        now = timezone.now()
        updated = PasskeyCredential.objects.filter(
            pk=passkey.pk, sign_count=passkey.sign_count, revoked_at__isnull=True
        ).update(sign_count=verified.new_sign_count, last_used_at=now)
        if not updated:
            raise PasskeyError("This passkey response was already used.", "replayed")
        passkey.sign_count, passkey.last_used_at = verified.new_sign_count, now
    except PasskeyError as refusal:
        target = passkey if passkey is not None else (user or PasskeyCredential)
        record("passkey_authentication_refused", target=target, actor=None, request=request,
               reason=refusal.reason)
        raise
    return passkey


def revoke_passkey(request: HttpRequest, passkey: PasskeyCredential, actor: User) -> None:
    """Revoke one passkey, audited. Only ``workflow.revoke_passkey`` calls it:
    the owner's decision, which also tells the owner everywhere."""
    with transaction.atomic():
        updated = PasskeyCredential.objects.filter(pk=passkey.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now(), confirmed=False
        )
        if not updated:
            raise PasskeyError("This passkey was already revoked.", "already_revoked")
        record("passkey_revoked", target=passkey, actor=actor, request=request,
               passkey=passkey.pk)


def _remember(request: HttpRequest, key: str, challenge: bytes, user: User | None) -> None:
    request.session[key] = {
        "challenge": bytes_to_base64url(challenge),
        "user": user.pk if user is not None else None,
        "expires": time.time() + CEREMONY_SECONDS,
    }


def _take(request: HttpRequest, key: str, user: User | None) -> bytes:
    state = request.session.pop(key, None)
    if not state or state.get("expires", 0) < time.time():
        raise PasskeyError("No passkey request is in progress, or it timed out. Start again.",
                           "no_challenge")
    if state.get("user") != (user.pk if user is not None else None):
        raise PasskeyError("This passkey request was started for someone else. Start again.",
                           "wrong_user")
    return base64url_to_bytes(state["challenge"])


def _load(body: bytes) -> dict:
    if len(body) > MAX_BODY_BYTES:
        raise PasskeyError("The passkey response is too large.", "oversized")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # deep nesting: refused
        raise PasskeyError("The passkey response is not valid JSON.", "malformed") from exc
    if not isinstance(payload, dict):
        raise PasskeyError("The passkey response is not valid JSON.", "malformed")
    return payload


def _parse(parser, value):
    if not isinstance(value, dict):
        raise PasskeyError("The passkey response is incomplete.", "malformed")
    try:
        return parser(value)
    except (InvalidJSONStructure, InvalidCBORData, ValueError, TypeError, KeyError) as exc:
        raise PasskeyError("The passkey response is malformed.", "malformed") from exc


def _transports(credential) -> list[str]:
    names = [getattr(t, "value", t) for t in (credential.response.transports or [])]
    return [str(n) for n in names if str(n) in KNOWN_TRANSPORTS]


def _refuse_if_disabled(user: User) -> None:
    identity = getattr(user, "identity", None)
    if not user.is_active or (identity is not None and not identity.is_active):
        raise PasskeyError("This account is disabled.", "disabled")
