"""Notes on a case: what an agent or supervisor writes down for whoever
reads the case next (``add_note``). Append-only, and audited with the text."""

from __future__ import annotations

from django.http import HttpRequest

from accounts.models import User
from audit.events import record

from .. import clock
from ..models import CaseNote, RecoveryCase
from .base import _decision, _lock
from .rules import _enforce, _note_text, may_add_note


@_decision("case_note", actor="author")
def add_note(case: RecoveryCase, author: User, text: str, *,
             request: HttpRequest | None = None) -> CaseNote:
    """An agent or supervisor adds a note to an open case (``may_add_note``:
    supervisors on any, agents on one they hold or nobody holds). The text
    keeps its line breaks and nothing else invisible (``_note_text``)."""
    case = _lock(case.pk)
    _enforce(may_add_note(case, author))
    text = _note_text(text)
    note = CaseNote.objects.create(case=case, author=author, text=text, created_at=clock.now())
    record("case_note_added", target=case, actor=author, request=request, note=note.pk,
           text=text)
    return note
