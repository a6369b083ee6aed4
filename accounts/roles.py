"""Staff roles and the one check every staff page goes through."""

from collections.abc import Callable
from enum import StrEnum
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse


class Role(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"
    SECURITY_ADMIN = "security_admin"


ROLE_LABELS = {
    Role.AGENT: "Agent",
    Role.SUPERVISOR: "Supervisor",
    Role.AUDITOR: "Auditor",
    Role.SECURITY_ADMIN: "Security admin",
}


def roles_of(user) -> frozenset[str]:
    """The staff roles a user holds, cached on the user for the request."""
    if not user.is_authenticated:
        return frozenset()
    cached = getattr(user, "_staff_roles", None)
    if cached is None:
        names = user.groups.filter(name__in=list(Role)).values_list("name", flat=True)
        cached = frozenset(names)
        user._staff_roles = cached
    return cached


def is_staff_member(user) -> bool:
    return bool(roles_of(user))


def staff_required(*roles: Role) -> Callable:
    """Allow a view only to signed-in staff who passed a second factor in this
    session and hold one of ``roles`` (any staff role when none is given)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            user = request.user
            if not user.is_authenticated or not user.is_verified():
                return redirect_to_login(request.get_full_path())
            held = roles_of(user)
            if not held or (roles and not held.intersection(roles)):
                raise PermissionDenied("Your role does not give access to this page.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def roles_context(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    held = roles_of(user) if user is not None else frozenset()
    return {
        "staff_roles": held,
        "staff_role_labels": [ROLE_LABELS[Role(r)] for r in sorted(held)],
        "is_agent": Role.AGENT in held,
        "is_supervisor": Role.SUPERVISOR in held,
        "is_auditor": Role.AUDITOR in held,
        "is_security_admin": Role.SECURITY_ADMIN in held,
    }
