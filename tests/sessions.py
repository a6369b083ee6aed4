"""Putting a test client into a signed-in state without going through a
sign-in form (the sign-in forms have tests of their own)."""

from datetime import timedelta

from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY

from accounts.models import PasskeyCredential
from accounts.stepup import SIGNED_IN_AT, STEP_UP_AT, STEP_UP_DEVICE

from .soft_authenticator import SoftAuthenticator, b64


def sign_in_client(client, user, device=None, stepped_up_ago: timedelta | None = timedelta(0)):
    """Sign ``user`` in on ``client`` as if they had passed ``device`` (their
    TOTP device by default); ``stepped_up_ago=None`` leaves no step-up."""
    if device is None:
        device = user.totpdevice_set.get()
    client.force_login(user)
    session = client.session
    now = timezone.now()
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session[SIGNED_IN_AT] = now.isoformat()
    if stepped_up_ago is not None:
        session[STEP_UP_AT] = (now - stepped_up_ago).isoformat()
        session[STEP_UP_DEVICE] = device.persistent_id
    session.save()
    return client


sign_in_staff_client = sign_in_client


def passkey_for(user, authenticator: SoftAuthenticator | None = None, **fields):
    """A passkey on file for ``user`` whose private key ``authenticator`` holds."""
    authenticator = authenticator or SoftAuthenticator()
    authenticator.user_handle = bytes.fromhex(user.passkey_handle)
    passkey = PasskeyCredential.objects.create(
        user=user, name="Test passkey", credential_id=b64(authenticator.credential_id),
        public_key=authenticator._cose_key(), sign_count=authenticator.sign_count, **fields,
    )
    return passkey, authenticator
