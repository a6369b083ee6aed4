"""Sign-in with a password plus a second factor (staff at the console, people
without a passkey at the portal) and with a passkey, decided in one place."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth import authenticate, login
from django.http import HttpRequest
from django_otp import login as otp_login
from django_otp import match_token

from audit.events import client_address, record

from . import ratelimit
from .models import Identity, PasskeyCredential, User
from .roles import is_staff_member
from .stepup import mark_signed_in

GENERIC_FAILURE = (
    "Sign-in failed: the username, password and authenticator code do not match. "
    "Check them and try again."
)
BLOCKED = (
    "Too many failed sign-ins for this account or network. "
    "Wait 15 minutes, or ask a security admin to help."
)


@dataclass
class SignInRefused(Exception):
    message: str


def sign_in_staff(request: HttpRequest, username: str, password: str, otp_token: str) -> User:
    """Sign a staff member in with password + TOTP.

    Refuses (without saying which part was wrong) an unknown account, a wrong
    password, a wrong or replayed code, or an account that holds no staff
    role. Every refusal is counted before anything is compared, and audited.
    """
    user, device = _password_and_code(request, username, password, otp_token,
                                      may=is_staff_member, otherwise="not_staff")
    _start_session(request, user, device, "password+totp")
    return user


def sign_in_person(request: HttpRequest, username: str, password: str, otp_token: str, *,
                   admit: Callable[[User], None] | None = None) -> User:
    """Sign a person (an account with an active identity) in to the portal with
    password + TOTP: the way in for someone who has no passkey yet.

    Refused like the staff sign-in, with the same limit and the same words
    whatever was wrong (an unknown account, a wrong password, no identity, a
    wrong or replayed code), so it never tells whether an account exists.
    Only once both factors passed does ``admit`` (the caller's policy: the
    passkey rollout's enforcement) have its say; it refuses by raising, and
    then no session starts. The session it starts is OTP-verified, like one
    started with a passkey."""
    user, device = _password_and_code(request, username, password, otp_token,
                                      may=_is_person, otherwise="no_identity")
    if admit is not None:
        admit(user)
    _start_session(request, user, device, "password+totp")
    return user


def _is_person(user: User) -> bool:
    return Identity.objects.filter(user=user, is_active=True).exists()


def _password_and_code(request: HttpRequest, username: str, password: str, otp_token: str, *,
                       may: Callable[[User], bool], otherwise: str):
    """The account and the device whose code matched, or SignInRefused: the
    attempt is counted before anything is compared, every refusal audited
    (``otherwise``: the reason when the account is not one ``may`` allows)."""
    address = client_address(request)
    if not ratelimit.attempt(ratelimit.SIGN_IN, username, address):
        _refuse(request, username, "throttled")
        raise SignInRefused(BLOCKED)
    user = authenticate(request, username=username, password=password)
    reason, device = None, None
    if user is None:
        reason = "bad_credentials"
    elif not may(user):
        reason = otherwise
    else:
        device = match_token(user, otp_token)
        if device is None:
            reason = "bad_second_factor"
    if reason:
        _refuse(request, username, reason, user=user)
        raise SignInRefused(GENERIC_FAILURE)
    ratelimit.forgive(ratelimit.SIGN_IN, username, address)
    return user, device


def sign_in_with_passkey(request: HttpRequest, passkey: PasskeyCredential) -> User:
    """Sign in whoever owns a passkey that just passed a WebAuthn ceremony."""
    _start_session(request, passkey.user, passkey, "passkey")
    return passkey.user


def _start_session(request: HttpRequest, user: User, device, method: str) -> None:
    login(request, user, backend="accounts.backends.StaffBackend")  # new session key
    otp_login(request, device)
    mark_signed_in(request, device)
    event = "staff_sign_in" if is_staff_member(user) else "sign_in"
    record(event, target=user, actor=user, request=request, method=method)


def _refuse(request: HttpRequest, username: str, reason: str, user: User | None = None) -> None:
    record(
        "sign_in_refused",
        target=user if user is not None else User,
        actor=None,
        request=request,
        username=username[:150],
        reason=reason,
    )
