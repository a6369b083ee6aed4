"""The sign-in events endpoint: no session, no CSRF token (the HMAC
signature is the authentication); a refusal keeps nothing but a log line."""

from __future__ import annotations

import logging

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import receiving, workflow

log = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def receive(request: HttpRequest) -> JsonResponse:
    """POST signed events (docs/sign-in-events.md): 202 with how many were kept."""
    try:
        kept = workflow.accept(receiving.verify(request), request=request)
    except receiving.Refused as refused:
        log.warning("sign-in events refused: %s (%s)", refused.why, refused.status)
        return JsonResponse({"error": refused.why, "detail": refused.message},
                            status=refused.status)
    return JsonResponse({"accepted": len(kept),
                         "matched": sum(1 for event in kept if event.identity_id)}, status=202)
