"""Who holds a case, other than by claiming it: the holding agent hands it
to a colleague (``hand_over``), a supervisor gives it to an agent
(``reassign``). Either way a note goes with it, the new holder gets the
right to work it and the one before loses it (as when giving it back)."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from guardian.shortcuts import assign_perm, remove_perm

from accounts.models import User
from audit.events import record

from .. import clock
from ..models import CaseNote, RecoveryCase
from .base import _decision, _lock, _move
from .rules import (
    WORK_PERMISSION,
    _enforce,
    _note_text,
    may_hand_over,
    may_hold,
    may_reassign,
    staff_name,
)

State = RecoveryCase.State


@_decision("case_hand_over", actor="agent")
def hand_over(case: RecoveryCase, agent: User, to: User, note: str, *,
              request: HttpRequest | None = None) -> RecoveryCase:
    """The holding agent hands an open case (``may_hand_over``) to a
    colleague who may hold it (``may_hold``: an active agent, not its
    subject, not one who decided on it), with a note for them. From now on
    only the colleague may see and work it."""
    case = _lock(case.pk)
    _enforce(may_hand_over(case, agent))
    to = User.objects.get(pk=to.pk)  # as it is now: active, and in which groups
    _enforce(may_hold(case, to))
    text = _note_text(note)
    to_name = staff_name(to)
    _give(case, agent, to, clock.now(), text, f"Handed over to {to_name}")
    record("case_handed_over", target=case, actor=agent, request=request, to=to.pk,
           to_name=to_name, note=text)
    return case


@_decision("case_reassign", actor="supervisor")
def reassign(case: RecoveryCase, supervisor: User, to: User, note: str, *,
             request: HttpRequest | None = None) -> RecoveryCase:
    """A supervisor gives an open case (``may_reassign``: any but their own
    recovery), held or not, to an agent who may hold it (``may_hold``), with
    a note. The agent who held it no longer sees it."""
    case = _lock(case.pk)
    _enforce(may_reassign(case, supervisor))
    to = User.objects.get(pk=to.pk)
    _enforce(may_hold(case, to))
    text = _note_text(note)
    previous = case.agent
    from_name, to_name = (staff_name(previous) if previous else ""), staff_name(to)
    occasion = (f"Reassigned from {from_name} to {to_name}" if previous
                else f"Assigned to {to_name}")
    _give(case, supervisor, to, clock.now(), text, occasion)
    record("case_reassigned", target=case, actor=supervisor, request=request, to=to.pk,
           to_name=to_name, from_name=from_name, note=text,
           **{"from": previous.pk if previous else None})
    return case


def _give(case: RecoveryCase, author: User, to: User, now: datetime, text: str,
          occasion: str) -> None:
    """``to`` holds ``case`` from ``now`` (a new case starts its
    verification, as when claimed); the holder before loses the right to
    work it; the note is kept with the case."""
    if case.agent_id is not None:
        remove_perm(WORK_PERMISSION, case.agent, case)
    state = State.VERIFYING if case.state == State.NEW else case.state
    _move(case, state, now, agent=to, claimed_at=now)
    assign_perm(WORK_PERMISSION, to, case)
    CaseNote.objects.create(case=case, author=author, text=text, occasion=occasion,
                            created_at=now)
