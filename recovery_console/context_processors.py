"""What every page's navigation shows beyond the viewer's roles."""

from __future__ import annotations

from functools import cached_property

from django.http import HttpRequest

from accounts.roles import Role, roles_of

from . import selectors


class NavigationCounts:
    """The numbers beside the navigation links: counted only when a page
    reads them, once per request, and only for a viewer who holds the role
    the link is for (anyone else costs no query at all)."""

    def __init__(self, user) -> None:
        self.user = user

    def _holds(self, *roles: Role) -> bool:
        user = self.user
        return user.is_authenticated and user.is_verified() and \
            bool(roles_of(user).intersection(roles))

    @cached_property
    def approvals(self) -> int | None:
        """Cases waiting for the viewer's decision (supervisors, and security
        admins for governance cases)."""
        if not self._holds(Role.SUPERVISOR, Role.SECURITY_ADMIN):
            return None
        return selectors.approvals_waiting_count(self.user)

    @cached_property
    def open_alerts(self) -> int | None:
        """Unacknowledged alerts (security admins)."""
        if not self._holds(Role.SECURITY_ADMIN):
            return None
        return selectors.open_alert_count()


def navigation(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    return {"nav_counts": NavigationCounts(user)} if user is not None else {}
