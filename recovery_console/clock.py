"""The workflow's clock. Tests travel in time by replacing ``now``
(``monkeypatch.setattr(clock, "now", ...)``), never by sleeping.

Code that replays decisions at their past times (the demo history) sets the
clock with ``frozen_at``: every decision, evidence row, notice and audit entry
written inside is dated at that moment, in this thread only."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

from django.utils import timezone

_frozen: ContextVar[datetime | None] = ContextVar("recovery_clock_frozen", default=None)


def now() -> datetime:
    frozen = _frozen.get()
    return frozen if frozen is not None else timezone.now()


@contextmanager
def frozen_at(moment: datetime) -> Iterator[datetime]:
    """Make ``now()`` answer ``moment`` inside the block (an aware datetime)."""
    if timezone.is_naive(moment):
        raise ValueError("frozen_at needs an aware datetime")
    token = _frozen.set(moment)
    try:
        yield moment
    finally:
        _frozen.reset(token)
