import time
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.shortcuts import redirect
from django.utils import timezone

from .stepup import SIGNED_IN_AT


class SessionLifetimeMiddleware:
    """End a session this long after sign-in, however active it stayed (the
    idle timeout is the session's age, refreshed by SessionRefreshMiddleware), and
    every session older than the user's ``sessions_valid_after``."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.user.is_authenticated:
            return self.get_response(request)
        signed_in_at = request.session.get(SIGNED_IN_AT)
        started = datetime.fromisoformat(signed_in_at) if signed_in_at else None
        ended_after = request.user.sessions_valid_after
        if ended_after is not None and (started is None or started < ended_after):
            logout(request)
            messages.info(request, "Your account's access was recovered or frozen: every "
                                   "earlier session has ended. Sign in again.")
            return redirect(settings.LOGIN_URL)
        max_age = timedelta(seconds=settings.STAFF_SESSION_MAX_AGE_SECONDS)
        if started is not None and timezone.now() - started > max_age:
            logout(request)
            messages.info(request, "Your session reached its maximum length. Sign in again.")
            return redirect(settings.LOGIN_URL)
        return self.get_response(request)


REFRESHED_AT = "session_refreshed_at"


class SessionRefreshMiddleware:
    """Restart the idle timeout (``SESSION_COOKIE_AGE``) on activity, by saving
    the session when its last save is ``SESSION_REFRESH_SECONDS`` old or more.
    Saving on every request would cost each page a write transaction; this way
    a session still ends after the idle timeout, at most that much early."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        session = request.session
        if getattr(request, "not_activity", False):
            return response  # a page polling by itself is not the person at work
        if session.accessed and session.session_key and not session.is_empty():
            now = int(time.time())
            if now - session.get(REFRESHED_AT, 0) >= settings.SESSION_REFRESH_SECONDS:
                session[REFRESHED_AT] = now
        return response
