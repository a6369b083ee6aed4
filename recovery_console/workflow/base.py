"""What every decision of the workflow shares: the decision
decorator (one transaction; a refusal audited after the rollback), locking
and moving a case, closing it with its live secrets, and the notices a
closed case owes. Imports nothing from the rest of the package.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import datetime
from functools import wraps

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse

from accounts.models import Identity, User
from audit.events import record

from .. import clock, notices
from ..models import Attestation, RecoveryCase, RecoverySession
from ..refusal import WorkflowError


def _decision(event: str, *, actor: str | None = None) -> Callable:
    """Run a decision in one transaction; audit a refusal after rolling back,
    as ``<event>_refused``, with the person named by the decision's ``actor``
    parameter (None: nobody signed in decides, e.g. the holder of a link).

    The decision's audit entries (its ``record`` calls and django-auditlog's
    model diffs) join the audit hash chain when this transaction commits, not
    when they are written: a ``post_save`` receiver on LogEntry
    (``audit.apps``) hands each new entry to ``audit.chain.append``, and the
    database ENGINE, ``audit.backends`` (set in settings), links them as the
    transaction's last statements inside ``commit()``; if that fails, the
    commit fails and the decision rolls back with its entries. The engine
    wrapper is there because Django offers no hook before the outermost
    commit (``on_commit`` runs after it). See ``audit``'s docstring."""

    def wrap(fn: Callable) -> Callable:
        signature = inspect.signature(fn)

        @wraps(fn)
        def run(*args, **kwargs):
            try:
                with transaction.atomic():
                    return fn(*args, **kwargs)
            except WorkflowError as refusal:
                _audit_refusal(event, refusal, signature.bind_partial(*args, **kwargs).arguments,
                               actor)
                raise

        return run

    return wrap


def _audit_refusal(event: str, refusal: WorkflowError, arguments: dict,
                   actor_parameter: str | None) -> None:
    target = refusal.target or arguments.get("case") or arguments.get("recovery_session")
    actor = arguments.get(actor_parameter) if actor_parameter else None
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    record(f"{event}_refused", target=target if target is not None else RecoveryCase,
           actor=actor, request=arguments.get("request"), reason=refusal.reason,
           message=refusal.message, **refusal.data)


def _lock(case_id: int) -> RecoveryCase:
    """The case re-read and locked until the transaction ends, with its
    identity (read, not locked): every decision checks whose recovery it is."""
    return (RecoveryCase.objects.select_for_update(of=("self",)).select_related("identity")
            .get(pk=case_id))


def _move(case: RecoveryCase, state: str, now: datetime, **fields) -> None:
    case.state = state
    case.updated_at = now
    for name, value in fields.items():
        setattr(case, name, value)
    case.save()


def _close(case: RecoveryCase, state: str, now: datetime, reason: str, *,
           cause: str = "", actor: User | None = None, request: HttpRequest | None = None,
           **fields) -> bool:
    """Close ``case``; its live secrets die with it. True when a recovery
    credential or session was still live."""
    voided = _void_live_secrets(case, now, cause or f"case_{state}", actor=actor,
                                request=request)
    _move(case, state, now, closed_at=now, closing_reason=reason[:500], **fields)
    return voided


def _void_live_secrets(case: RecoveryCase, now: datetime, cause: str, *,
                       actor: User | None = None, request: HttpRequest | None = None) -> bool:
    """Void every live code, link, recovery credential and recovery session
    of ``case``; audit the voiding of a credential or session with its cause.
    True when a credential or session was live (the subject must be told)."""
    case.channel_codes.void(now)
    case.attestations.void(now)
    credentials = []
    for credential in case.credentials.live():
        credential.voided_at, credential.void_cause = now, cause[:30]
        credential.save(update_fields=["voided_at", "void_cause"])
        credentials.append(credential.pk)
    sessions = list(case.sessions.live(now).values_list("pk", flat=True))
    RecoverySession.objects.filter(pk__in=sessions).void(now)
    if not credentials and not sessions:
        return False
    record("credential_voided", target=case, actor=actor, request=request, cause=cause,
           credentials=credentials, sessions=sessions)
    return True


def _end_sessions(user: User) -> str:
    """End every session ``user`` signed in before now (checked by
    accounts.middleware on their next request): one UPDATE, whatever the
    number of sessions. The recovering browser is not signed in as the user,
    so it keeps its recovery session."""
    User.objects.filter(pk=user.pk).update(sessions_valid_after=clock.now())
    return "all before now"


def _site_link(name: str, *args) -> str:
    return settings.SITE_URL + reverse(name, args=args)


def _relation(identity: Identity) -> tuple[str, Identity | None]:
    """Who vouches for an identity: manager (employees), sponsor (external
    people) or owner (service accounts)."""
    if identity.kind == Identity.Kind.SERVICE_ACCOUNT:
        return "owner", identity.owner
    if identity.kind == Identity.Kind.PARTNER:
        return "partner administrator", identity.partner_admin
    if identity.kind == Identity.Kind.CONTRACTOR:
        return "sponsor", identity.sponsor
    return "manager", identity.manager


def _owe_closing_notices(case: RecoveryCase, outcome: str, subject: str, body: str,
                         subject_only: str = "") -> None:
    """Tell the subject on every channel (``subject_only`` is added for them
    alone), their manager, sponsor or owner, and security monitoring."""
    decision = f"case-{outcome}:{case.pk}"
    notices.owe_to_identity(case.identity, case=case,
                            decision=decision, event=f"recovery_{outcome}",
                            subject=subject, body=body + subject_only)
    relation, other = _relation(case.identity)
    if other is not None:
        what, told = _relation_notice(case, outcome, relation, other)
        notices.owe_to_identity(
            other, case=case, decision=f"{decision}:{relation}", event=f"recovery_{outcome}",
            subject=f"{case.identity.display_name}, whose {relation} you are: {what}",
            body=told,
        )
    notices.owe_to_monitoring(case=case, decision=decision, event=f"recovery_{outcome}",
                              identity=case.identity, subject=f"Recovery case {outcome}",
                              body=f"Case {case.pk} ({case.tier}) {outcome}.")


def _relation_notice(case: RecoveryCase, outcome: str, relation: str,
                     other: Identity) -> tuple[str, str]:
    """The manager's, sponsor's or owner's own notice (subject, body): about
    someone else's account, saying what it means for them and what to do."""
    name = case.identity.display_name
    attested = case.attestations.filter(attester=other,
                                        decision=Attestation.Decision.CONFIRM).exists()
    vouched = " You confirmed the request through the link sent to you." if attested else ""
    if outcome == "completed":
        return "access recovered", (
            f"You are told as {relation} of {name}. The service desk restored access to "
            f"{name}'s account (case {case.pk}) after checking their identity, and a new "
            f"passkey was enrolled.{vouched} You need do nothing. If you did not expect this, "
            f"or think {name} did not ask for it, call the service desk now.")
    if outcome == "denied":
        return "recovery refused", (
            f"You are told as {relation} of {name}. A supervisor refused a request to recover "
            f"access to {name}'s account (case {case.pk}); nothing was reset.{vouched} If you "
            f"think someone tried to pass as {name}, tell the service desk.")
    if outcome == "rotated":
        reference = case.rotation.reference
        return "credential rotated", (
            f"You are the {relation} of the shared service account {name}. Its credential was "
            f"rotated (reference {reference}) at the end of governance case {case.pk}.{vouched} "
            "Make sure whatever uses the account has the new credential. If you did not expect "
            "this, call the service desk now.")
    return f"recovery case {outcome}", (
        f"You are told as {relation} of {name}: the service desk's recovery case {case.pk} "
        f"about their account is now {outcome}. If anything about it surprises you, call the "
        "service desk.")
