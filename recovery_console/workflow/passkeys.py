"""What follows from a person's passkeys changing: the owner told on every
channel, an alert when a passkey lands in a recovery's watch period, and the
person's passkey rollout invitations marked enrolled.

The WebAuthn ceremonies (``accounts.webauthn``) verify the authenticator and
store or revoke the passkey row with its audit entry; they know nothing of
recoveries. These decisions add what the recovery domain owes on top, in the
same transaction as the row: the ceremony calls ``passkey_added`` through its
``on_stored`` hook (the account page), ``complete_enrolment`` calls it after
enrolling, and the demo history after storing a past passkey.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest

from accounts import webauthn
from accounts.models import PasskeyCredential, User

from .. import alerts, notices
from ..models import Alert
from ..refusal import WorkflowError
from ..rollout import invitations


def passkey_added(passkey: PasskeyCredential, *, request: HttpRequest | None = None) -> None:
    """A passkey was just stored for its owner (any ceremony, anyone's own
    account): owe the owner a notice on every channel, raise a
    ``passkey_enrolment`` alert if they are inside a recovery's watch period,
    and mark their open rollout invitations enrolled.
    Nobody decides this: it follows from the passkey, so there is no refusal.
    Call it inside the transaction that stored the passkey."""
    with transaction.atomic():
        _tell_owner(passkey.user, f"passkey-added:{passkey.pk}", "passkey_added",
                    f"A passkey named “{passkey.name}” was added to your account.")
        identity = getattr(passkey.user, "identity", None)
        if identity is not None:
            alerts.watch(identity, Alert.Kind.PASSKEY_ENROLMENT,
                         f"Passkey “{passkey.name}” enrolled during the watch period after a "
                         "recovery.", request=request)
        invitations.passkey_enrolled(passkey.user)


def revoke_passkey(passkey: PasskeyCredential, actor: User, *,
                   request: HttpRequest | None = None) -> None:
    """The owner (``actor``, the only one who may: the view finds the passkey
    among the signed-in person's own) revokes one passkey; audited, and the
    owner told on every channel. Refused if it was already revoked, and
    nothing changes."""
    with transaction.atomic():
        try:
            webauthn.revoke_passkey(request, passkey, actor)
        except webauthn.PasskeyError as ceremony:
            raise WorkflowError(ceremony.message, reason=f"passkey_{ceremony.reason}",
                                target=passkey) from ceremony
        _tell_owner(passkey.user, f"passkey-revoked:{passkey.pk}", "passkey_revoked",
                    f"The passkey named “{passkey.name}” was removed from your account.")


def _tell_owner(user: User, decision: str, event: str, what: str) -> None:
    identity = getattr(user, "identity", None)
    if identity is None:
        return
    notices.owe_to_identity(
        identity, decision=decision, event=event, subject="Your passkeys changed",
        body=f"{what}\nIf this wasn't you, contact the service desk at once: "
             f"{settings.SITE_URL}/recover/",
    )
