"""How much time a case has left before its deadline, in words a desk reads
at a glance ("2 h 5 min left", "overdue by 10 min"), and whether it is due
soon (within ``RECOVERY_QUEUE_DUE_SOON_MINUTES``) or overdue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

OVERDUE, DUE_SOON, ON_TIME = "overdue", "due-soon", "on-time"


def due_soon_window() -> timedelta:
    return timedelta(minutes=settings.RECOVERY_QUEUE_DUE_SOON_MINUTES)


def duration_text(span: timedelta) -> str:
    """A span as days, hours and minutes, the two largest units that are not
    zero ("2 d 3 h", "2 h 5 min", "7 min"); under a minute, "less than 1 min"."""
    minutes = int(abs(span).total_seconds()) // 60
    if minutes == 0:
        return "less than 1 min"
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{n} {unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "min")) if n]
    return " ".join(parts[:2])


@dataclass(frozen=True)
class Countdown:
    left: timedelta  # negative once the deadline has passed
    status: str  # OVERDUE, DUE_SOON or ON_TIME

    @property
    def text(self) -> str:
        if self.status == OVERDUE:
            return f"overdue by {duration_text(self.left)}"
        return f"{duration_text(self.left)} left"

    @property
    def label(self) -> str:
        """The mark beside the time, in words (not colour alone); "" on time."""
        return {OVERDUE: "Overdue", DUE_SOON: "Due soon"}.get(self.status, "")


def countdown(deadline: datetime, now: datetime, soon: timedelta | None = None) -> Countdown:
    left = deadline - now
    soon = due_soon_window() if soon is None else soon
    status = OVERDUE if left <= timedelta(0) else DUE_SOON if left <= soon else ON_TIME
    return Countdown(left, status)
