"""Repudiation feeds back: when a person says a recovery wasn't them, every
staff member who took part in it is marked for review (``mark_involvement``,
inside ``closing.repudiate``'s transaction), and a security admin closes each
review with an outcome and a note (``close_review``).
"""

from __future__ import annotations

from datetime import datetime

from auditlog.models import LogEntry
from django.http import HttpRequest

from accounts.models import User
from audit.events import record

from .. import clock
from ..models import Approval, InvolvementReview, RecoveryCase
from .base import WorkflowError, _decision
from .rules import HANDED_EVENTS, _enforce, _note_text, may_close_review, staff_name

Role = InvolvementReview.Role


def involvement(case: RecoveryCase) -> dict[int, list[str]]:
    """Who took part in ``case`` and how (user id -> ``Role`` values, in the
    order of the roles): who opened it; who held it (claimed it, was handed
    it or reassigned it: ``rules.worked_entries``); who approved it; who
    issued a recovery credential. Three queries. Evidence adds nobody: it is
    recorded by the holder, or by an attester, who is not staff."""
    roles: dict[int, set[str]] = {}

    def mark(user_id: int | None, role: str) -> None:
        if user_id is not None:
            roles.setdefault(user_id, set()).add(role)

    mark(case.opened_by_id, Role.OPENED)
    mark(case.agent_id, Role.WORKED)
    held = LogEntry.objects.filter(
        object_pk=str(case.pk), content_type__app_label="recovery",
        content_type__model="recoverycase",
        additional_data__event__in=("case_claimed", *HANDED_EVENTS),
    ).values_list("actor_id", "additional_data")
    for actor_id, data in held:
        mark(actor_id if data.get("event") == "case_claimed" else _int(data.get("to")),
             Role.WORKED)
    for approver_id in case.approvals.filter(decision=Approval.Decision.APPROVE) \
            .values_list("approver_id", flat=True):
        mark(approver_id, Role.APPROVED)
    for issuer_id in case.credentials.values_list("issued_by_id", flat=True):
        mark(issuer_id, Role.ISSUED)
    order = list(Role.values)
    return {user_id: sorted(found, key=order.index) for user_id, found in roles.items()}


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def mark_involvement(case: RecoveryCase, now: datetime, *,
                     request: HttpRequest | None = None) -> list[InvolvementReview]:
    """Mark everyone who took part in the repudiated ``case`` for review: one
    row per person, each audited on the case. Part of ``repudiate``'s
    decision (its transaction); nobody's right is checked here."""
    found = involvement(case)
    people = User.objects.in_bulk(list(found))
    reviews = []
    for user_id, roles in sorted(found.items()):
        review, created = InvolvementReview.objects.get_or_create(
            case=case, staff_id=user_id, defaults={"roles": roles, "created_at": now})
        if not created:  # a repudiation is used once: only a replayed call gets here
            continue
        record("involvement_marked", target=case, actor=None, request=request,
               review=review.pk, staff=user_id, staff_name=staff_name(people[user_id]),
               roles=roles)
        reviews.append(review)
    return reviews


@_decision("review_close", actor="admin")
def close_review(review: InvolvementReview, admin: User, outcome: str, note: str, *,
                 request: HttpRequest | None = None) -> InvolvementReview:
    """A security admin closes the review of one person's part in a
    repudiated recovery with an outcome (cleared, coaching, referred for
    disciplinary action) and a note saying what they found. Never the review
    of their own part; once."""
    review = (InvolvementReview.objects.select_for_update(of=("self",))
              .select_related("staff", "case").get(pk=review.pk))
    try:
        _enforce(may_close_review(review, admin))
        _require_outcome(outcome)
        note = _note_text(note)
    except WorkflowError as refusal:
        refusal.target = review.case  # the refusal is audited on the case, as the marking
        refusal.data.setdefault("review", review.pk)
        raise
    now = clock.now()
    # Conditional as well as locked: where rows cannot be locked (SQLite), two
    # admins closing at once cannot both succeed.
    closed = InvolvementReview.objects.filter(pk=review.pk, closed_at__isnull=True).update(
        outcome=outcome, note=note, closed_by=admin, closed_at=now)
    if closed != 1:
        raise WorkflowError("Another security admin closed this review just now.",
                            reason="review_closed", target=review.case, review=review.pk)
    review.outcome, review.note, review.closed_by, review.closed_at = outcome, note, admin, now
    record("review_closed", target=review.case, actor=admin, request=request,
           review=review.pk, staff=review.staff_id, staff_name=staff_name(review.staff),
           outcome=outcome, note=note)
    return review


def _require_outcome(outcome: str) -> None:
    if outcome not in InvolvementReview.Outcome.values:
        raise WorkflowError("Choose an outcome: cleared, coaching or referred.",
                            reason="bad_outcome", status=WorkflowError.BAD_REQUEST)
