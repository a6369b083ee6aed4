"""Probes and metrics for machines: no sign-in, no session, no HTML."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import checks, metrics


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and answering; touches nothing else."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready to serve: database, migrations, cache, broker and beat all fine."""
    ready, results = checks.readiness()
    return JsonResponse(
        {"status": "ok" if ready else "fail",
         "checks": {name: result.as_dict() for name, result in results.items()}},
        status=200 if ready else 503,
    )


@never_cache
@require_GET
def prometheus(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics, for a scraper holding ``METRICS_TOKEN`` (404 when unset)."""
    expected = settings.METRICS_TOKEN
    if not expected:
        raise Http404
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected.encode()):
        response = HttpResponse("A bearer token is required.\n", status=401,
                                content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body, content_type = metrics.render(request.headers.get("Accept", ""))
    return HttpResponse(body, content_type=content_type)
