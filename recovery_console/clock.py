"""The workflow's clock. Tests travel in time by replacing ``now``
(``monkeypatch.setattr(clock, "now", ...)``), never by sleeping."""

from datetime import datetime

from django.utils import timezone


def now() -> datetime:
    return timezone.now()
