"""The yardstick: a bare Django view doing one indexed query (a unique-index
lookup of an identity), through the same middleware, settings, gunicorn and
database as the console's pages. Page throughput is reported as a ratio to it.

The same view behind the staff sign-in (session, user, OTP device, roles)
shows what every staff page pays before doing anything of its own."""

import random

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from accounts.models import Identity
from accounts.roles import Role, staff_required


@require_GET
def baseline(request: HttpRequest) -> HttpResponse:
    n = random.randrange(settings.BENCH_IDENTITIES)  # noqa: S311  # nosec B311 - load, not secrets
    name = (Identity.objects.filter(directory_id=f"bench-{n:07d}")
            .values_list("display_name", flat=True).first())
    return HttpResponse(f"<p>{name}</p>", content_type="text/html; charset=utf-8")


@require_GET
@staff_required(Role.AGENT)
def signed_in_baseline(request: HttpRequest) -> HttpResponse:
    return baseline(request)
