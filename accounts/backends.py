"""Who is signed in, in one query per request.

Every staff page needs the user, the staff roles they hold and whether the
device their session was verified with still stands (django-otp). Django's
``ModelBackend`` and django-otp's ``OTPMiddleware`` read those in three
queries; here they are one, read fresh on every request: a role taken away,
a device removed or an account deactivated counts from the next request."""

from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache

from django.apps import apps
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils.functional import SimpleLazyObject
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.middleware import OTPMiddleware
from django_otp.models import Device

from .models import User
from .roles import Role

# The device the session being read names (its persistent id), while
# StaffOTPMiddleware resolves the user.
_session_device: ContextVar[str | None] = ContextVar("session_device", default=None)
_UNCHECKED = object()


@contextmanager
def _naming_device(persistent_id: str | None):
    token = _session_device.set(persistent_id)
    try:
        yield
    finally:
        _session_device.reset(token)


def _device_model(persistent_id: str | None) -> tuple[type[Device] | None, int | None]:
    try:
        label, pk = persistent_id.rsplit("/", 1)
        model = apps.get_model(label)
        return (model, int(pk)) if issubclass(model, Device) else (None, None)
    except (AttributeError, ValueError, LookupError):
        return None, None


@cache
def _sql(device_model: type[Device] | None) -> str:
    """One row per group the user is in (one row with no group if none): the
    user's columns, the group's name when it is a staff role, and whether the
    session's device is a confirmed device of this user."""
    quote = connection.ops.quote_name
    user, link, group = User._meta, User.groups.through._meta, Group._meta
    columns = ", ".join(f"u.{quote(f.column)}" for f in user.concrete_fields)
    roles = ", ".join(["%s"] * len(Role))
    if device_model is None:
        device = "1 = 0"
    else:
        table = quote(device_model._meta.db_table)
        device = (f"EXISTS (SELECT 1 FROM {table} d WHERE d.{quote('id')} = %s "  # noqa: S608  # nosec B608
                  f"AND d.{quote('user_id')} = u.{quote('id')} AND d.{quote('confirmed')})")
    # Every name comes from the models; every value is a parameter.
    return (f"SELECT {columns}, g.{quote('name')} AS staff_role, "  # noqa: S608  # nosec B608
            f"{device} AS session_device_ok FROM {quote(user.db_table)} u "
            f"LEFT JOIN {quote(link.db_table)} m ON m.{quote('user_id')} = u.{quote('id')} "
            f"LEFT JOIN {quote(group.db_table)} g ON g.{quote('id')} = m.{quote('group_id')} "
            f"AND g.{quote('name')} IN ({roles}) "
            f"WHERE u.{quote('id')} = %s")


class StaffBackend(ModelBackend):
    """ModelBackend reading the user with their staff roles and, while
    StaffOTPMiddleware asks, the session's device, in one query."""

    def get_user(self, user_id):
        try:
            pk = User._meta.pk.to_python(user_id)
        except (ValidationError, TypeError, ValueError):  # a session's id that is no id
            return None
        persistent_id = _session_device.get()
        device_model, device_pk = _device_model(persistent_id)
        device = [] if device_model is None else [device_pk]
        rows = list(User.objects.raw(_sql(device_model), [*device, *Role, pk]))
        if not rows:
            return None
        user = rows[0]
        user._staff_roles = frozenset(row.staff_role for row in rows if row.staff_role)
        if persistent_id is not None:
            # Loaded only if a page reads it; that it stands is known already.
            user._session_device = None if not user.session_device_ok else SimpleLazyObject(
                lambda: Device.from_persistent_id(persistent_id))
        return user if self.user_can_authenticate(user) else None


class StaffOTPMiddleware(OTPMiddleware):
    """django-otp's middleware, taking the device check from StaffBackend's
    query when that backend read the user (another backend's user is
    checked the library's way)."""

    def _verify_user_sync(self, request, user):
        persistent_id = request.session.get(DEVICE_ID_SESSION_KEY)
        if persistent_id:
            persistent_id = self._normalize_persistent_id(persistent_id)
        with _naming_device(persistent_id):
            self._init_user_fields(user)  # reads the lazy user, in the backend's query
        if not user.is_authenticated:
            return user
        device = getattr(user, "_session_device", _UNCHECKED)
        if device is _UNCHECKED:
            device = self._device_from_persistent_id(persistent_id) if persistent_id else None
            device = self._finalize_device(request, user, device)
        elif device is None and DEVICE_ID_SESSION_KEY in request.session:
            del request.session[DEVICE_ID_SESSION_KEY]
        user.otp_device = device
        return user
