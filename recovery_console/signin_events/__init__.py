"""Sign-in events in: the identity provider or the SIEM posts sign-in,
admin-access and device events to a signed, replay-protected endpoint; the
console keeps them, raises watch-period alerts linked to the recovery, and
flags an open case whose "lost" passkey still signs in.

The wire format is in docs/sign-in-events.md.
"""
