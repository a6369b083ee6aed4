"""Times on pages: in the viewer's zone (activated for the request by
``accounts.timezones.ViewerTimeZoneMiddleware``), labelled with that zone,
inside ``<time datetime="…">`` holding the instant in UTC (ISO 8601).
A template builtin (settings.TEMPLATES): no ``{% load %}`` needed.

    {{ case.deadline|when }}            29 Nov 2026, 14:05 CET
    {{ evidence.created_at|when:"j M, H:i:s" }}
    {{ case.opened_at|ago }}            3 hours (the moment in its title)
"""

from __future__ import annotations

import re
from collections.abc import Callable
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


# The format characters the console's pages use, as ``dateformat`` writes them.
_FAST = {
    "j": lambda d: str(d.day),
    "M": lambda d: MONTHS_3[d.month].title(),
    "Y": lambda d: f"{d.year:04d}",
    "H": lambda d: f"{d.hour:02d}",
    "i": lambda d: f"{d.minute:02d}",
    "s": lambda d: f"{d.second:02d}",
}


@lru_cache(maxsize=64)
def _formatter(fmt: str) -> Callable[[date], str]:
    """``dateformat.format(·, fmt)`` for a format made of ``_FAST``
    characters and literal text (parsed once: a page formats dozens of
    moments with the same few formats); ``dateformat`` itself for any other."""
    pieces = re.split(dateformat.re_formatchars.pattern, fmt)
    if "\\" in fmt or any(p not in _FAST for p in pieces[1::2]):
        return lambda moment: dateformat.format(moment, fmt)
    parts = [_FAST[p] if i % 2 else p for i, p in enumerate(pieces) if p]
    return lambda moment: "".join([p if isinstance(p, str) else p(moment) for p in parts])


@lru_cache(maxsize=64)
def _shows_time_of_day(fmt: str) -> bool:
    return bool(_TIME_OF_DAY & set(fmt))


def _local_text(moment: datetime, fmt: str) -> str:
    local = timezone.localtime(moment)
    text = _formatter(fmt)(local)
    return f"{text} {zone_label(local)}" if _shows_time_of_day(fmt) else text


def local_text(value: datetime, fmt: str = DEFAULT_FORMAT) -> str:
    """``value`` in the viewer's zone as ``fmt``, with the zone's label."""
    return _local_text(_aware(value), fmt)


@register.filter
def when(value, fmt: str = DEFAULT_FORMAT):
    """A moment in the viewer's zone, labelled, in a ``<time>`` element."""
    if isinstance(value, datetime):
        moment = _aware(value)
        return format_html('<time datetime="{}">{}</time>', _utc_iso(moment),
                           _local_text(moment, fmt))
    if isinstance(value, date):
        return format_html('<time datetime="{}">{}</time>', value.isoformat(),
                           dateformat.format(value, fmt))
    return ""


@register.filter
def ago(value):
    """How long ago ``value`` was ("3 hours"), with the moment in the title."""
    if not isinstance(value, datetime):
        return ""
    moment = _aware(value)
    return format_html('<time datetime="{}" title="{}">{}</time>', _utc_iso(moment),
                       _local_text(moment, DEFAULT_FORMAT), timesince(moment))
