"""The viewer's time zone: a staff member's preference, else the zone their
browser reported in a cookie, else UTC. Pages show every time in it, labelled
(see the ``when`` template filter); CSV exports stay in UTC."""

from __future__ import annotations

from functools import cache
from urllib.parse import unquote
from zoneinfo import ZoneInfo, available_timezones

from django.core.exceptions import ValidationError
from django.utils import timezone

# Set by static/js/timezone.js from Intl.DateTimeFormat().resolvedOptions().timeZone.
COOKIE_NAME = "tz"
UTC = ZoneInfo("UTC")


@cache
def zone_names() -> frozenset[str]:
    """Every IANA zone name this machine knows (read once: about 600 files)."""
    return frozenset(available_timezones())


def zone_or_none(name: str | None) -> ZoneInfo | None:
    """The zone called ``name`` if it is a known IANA name, else None. Only
    names from the list are looked up: never a path or anything a client made up."""
    if not name or len(name) > 64 or name not in zone_names():
        return None
    return ZoneInfo(name)


def validate_time_zone(value: str) -> None:
    if value and zone_or_none(value) is None:
        raise ValidationError("Choose a time zone from the list (for example Europe/Paris).",
                              code="unknown_time_zone")


def viewer_zone(request) -> ZoneInfo:
    """The zone pages show times in for whoever made ``request``."""
    user = getattr(request, "user", None)
    preference = getattr(user, "time_zone", "") if user is not None else ""
    return (zone_or_none(preference)
            or zone_or_none(unquote(request.COOKIES.get(COOKIE_NAME, "")))
            or UTC)


class ViewerTimeZoneMiddleware:
    """Activates the viewer's zone for the request (templates and forms)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with timezone.override(viewer_zone(request)):
            return self.get_response(request)
