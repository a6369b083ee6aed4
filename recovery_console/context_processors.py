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
    def _security_admin(self) -> dict[str, int] | None:
        # Alerts and reviews share one query: a security admin's pages pay for
        # one count, however many links show one.
        if not self._holds(Role.SECURITY_ADMIN):
            return None
        return selectors.security_admin_counts()

    @property
    def open_alerts(self) -> int | None:
        """Unacknowledged alerts (security admins)."""
        counts = self._security_admin
        return None if counts is None else counts["alerts"]

    @property
    def open_reviews(self) -> int | None:
        """Reviews of staff involved in a repudiated recovery nobody closed
        yet (security admins; auditors see the page, without a count)."""
        counts = self._security_admin
        return None if counts is None else counts["reviews"]


def navigation(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    return {"nav_counts": NavigationCounts(user)} if user is not None else {}
