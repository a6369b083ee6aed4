"""Times on pages: in the viewer's zone (activated for the request by
``accounts.timezones.ViewerTimeZoneMiddleware``), labelled with that zone,
inside ``<time datetime="…">`` holding the instant in UTC (ISO 8601).
A template builtin (settings.TEMPLATES): no ``{% load %}`` needed.

    {{ case.deadline|when }}            29 Nov 2026, 14:05 CET
    {{ evidence.created_at|when:"j M, H:i:s" }}
    {{ case.opened_at|ago }}            3 hours (the moment in its title)
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache

from django import template
from django.utils import dateformat, timezone
from django.utils.dates import MONTHS_3
from django.utils.html import format_html
from django.utils.timesince import timesince

register = template.Library()

DEFAULT_FORMAT = "j M Y, H:i"
# Format characters that show a time of day: such a text gets the zone's label.
_TIME_OF_DAY = set("aAfgGhHiPsu")


def zone_label(moment: datetime) -> str:
    """The zone's abbreviation at ``moment`` (CET, EDT, UTC), or its offset
    from UTC where the zone has no letters for it (UTC+05:45)."""
    name = moment.tzname() or ""
    if name.isascii() and name.isalpha():
        return name
    offset = int(moment.utcoffset().total_seconds()) // 60
    hours, minutes = divmod(abs(offset), 60)
    return f"UTC{'-' if offset < 0 else '+'}{hours:02d}:{minutes:02d}"


def _utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _aware(value: datetime) -> datetime:
    return timezone.make_aware(value, UTC) if timezone.is_naive(value) else value


# The format characters the pages use, as dateformat writes them. A page
# shows dozens of moments: dateformat parses the format and builds a
# formatter for each one, these are read once per format (``_parts``).
_PARTS = {
    "d": lambda moment: f"{moment.day:02d}",
    "j": lambda moment: str(moment.day),
    "M": lambda moment: MONTHS_3[moment.month].title(),
    "Y": lambda moment: f"{moment.year:04d}",
    "H": lambda moment: f"{moment.hour:02d}",
    "i": lambda moment: f"{moment.minute:02d}",
    "s": lambda moment: f"{moment.second:02d}",
}


@lru_cache(maxsize=64)
def _parts(fmt: str) -> tuple | None:
    """``fmt`` as its literal texts and ``_PARTS``; None when it uses any
    other letter or an escape (dateformat writes those)."""
    parts = []
    for char in fmt:
        if char in _PARTS:
            parts.append(_PARTS[char])
        elif char == "\\" or (char.isascii() and char.isalpha()):
            return None
        else:
            parts.append(char)
    return tuple(parts)


def _formatted(moment: datetime, fmt: str) -> str:
    parts = _parts(fmt)
    if parts is None:
        return dateformat.format(moment, fmt)
    return "".join(part if isinstance(part, str) else part(moment) for part in parts)


def local_text(value: datetime, fmt: str = DEFAULT_FORMAT) -> str:
    """``value`` in the viewer's zone as ``fmt``, with the zone's label."""
    local = timezone.localtime(_aware(value))
    text = _formatted(local, fmt)
    return f"{text} {zone_label(local)}" if _TIME_OF_DAY & set(fmt) else text


@register.filter
def when(value, fmt: str = DEFAULT_FORMAT):
    """A moment in the viewer's zone, labelled, in a ``<time>`` element."""
    if isinstance(value, datetime):
        return format_html('<time datetime="{}">{}</time>', _utc_iso(_aware(value)),
                           local_text(value, fmt))
    if isinstance(value, date):
        return format_html('<time datetime="{}">{}</time>', value.isoformat(),
                           dateformat.format(value, fmt))
    return ""


@register.filter
def ago(value):
    """How long ago ``value`` was ("3 hours"), with the moment in the title."""
    if not isinstance(value, datetime):
        return ""
    return format_html('<time datetime="{}" title="{}">{}</time>', _utc_iso(_aware(value)),
                       local_text(value), timesince(_aware(value)))
