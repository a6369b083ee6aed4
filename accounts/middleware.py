from datetime import datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.shortcuts import redirect
from django.utils import timezone

from .stepup import SIGNED_IN_AT


class SessionLifetimeMiddleware:
    """End a session this long after sign-in, however active it stayed (the
    idle timeout is the session cookie's age, refreshed on each request)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        signed_in_at = request.session.get(SIGNED_IN_AT) if request.user.is_authenticated else None
        if signed_in_at:
            age = timezone.now() - datetime.fromisoformat(signed_in_at)
            if age > timedelta(seconds=settings.STAFF_SESSION_MAX_AGE_SECONDS):
                logout(request)
                messages.info(request, "Your session reached its maximum length. Sign in again.")
                return redirect(settings.LOGIN_URL)
        return self.get_response(request)
