"""The provider's callback: a CSRF-exempt POST whose only authentication is
its signature (checked by the decision). Shape first (content type, size),
then one decision; the answer is JSON the provider logs."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts import ratelimit

from ..refusal import WorkflowError
from . import config, workflow
from .models import IdentityVerification

# Every callback counts, against the provider as a whole and the sender's
# address: a flood of forged callbacks (each refusal is audited) is cut short.
CALLBACKS = ratelimit.Limit("idv-callback", ("RATE_LIMIT_IDV_CALLBACKS", 600),
                            ("RATE_LIMIT_IDV_CALLBACKS_PER_ADDRESS", 120),
                            ("RATE_LIMIT_IDV_CALLBACK_WINDOW_SECONDS", 60))


def _throttled(request: HttpRequest) -> JsonResponse:
    answer = _answer(429, "throttled", "Too many callbacks: slow down.")
    answer["Retry-After"] = str(CALLBACKS.value("window"))
    return answer


@csrf_exempt  # a server-to-server POST authenticated by its HMAC signature, not a session
@never_cache
@require_POST
@ratelimit.rate_limited(CALLBACKS, subject=lambda request: "callbacks", refused=_throttled,
                        target=IdentityVerification)
def callback(request: HttpRequest) -> JsonResponse:
    if not config.is_configured():
        return _answer(404, "not_configured", "No identity verification provider is configured.")
    if request.content_type.lower() != "application/json":
        return _answer(415, "content_type", "Send application/json.")
    limit = settings.IDV_CALLBACK_MAX_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    try:
        body = None if declared > limit else request.body
    except RequestDataTooBig:
        body = None
    if body is None or len(body) > limit:
        return _answer(413, "too_large", f"The body is larger than {limit} bytes.")
    try:
        taken = workflow.take_callback(body, request.headers, request=request)
    except WorkflowError as refusal:
        return _answer(refusal.status, refusal.reason, refusal.message)
    return JsonResponse({"status": "taken" if taken is not None else "ignored"})


def _answer(status: int, reason: str, message: str) -> JsonResponse:
    return JsonResponse({"error": reason, "detail": message}, status=status)
