"""The verification provider, built from the environment: off unless
``IDV_PROVIDER`` names one and every variable it needs is set (read at each
use, so a rotated secret counts from the next request on). Credentials are
never in the database. docs/identity-verification.md lists the variables."""

from __future__ import annotations

import os

from django.conf import settings

from .providers import VerificationProvider
from .providers.persona import API_URL, API_VERSION, PersonaProvider

# provider -> (required variables, optional variables with their defaults)
VARIABLES = {
    "persona": (("IDV_PERSONA_API_KEY", "IDV_PERSONA_WEBHOOK_SECRET",
                 "IDV_PERSONA_TEMPLATE_ID"),
                {"IDV_PERSONA_API_URL": API_URL, "IDV_PERSONA_API_VERSION": API_VERSION}),
}
LABELS = {"persona": "Persona"}


def provider_name() -> str:
    return os.environ.get("IDV_PROVIDER", "").strip().lower()


def missing_variables() -> list[str]:
    """What is missing for the configured provider (named, never valued);
    ["IDV_PROVIDER"] when none is named or the name is unknown."""
    name = provider_name()
    if name not in VARIABLES:
        return ["IDV_PROVIDER"]
    return [v for v in VARIABLES[name][0] if not os.environ.get(v)]


def is_configured() -> bool:
    return not missing_variables()


def provider() -> VerificationProvider | None:
    """The configured provider with its credentials, or None when off."""
    if not is_configured():
        return None
    name = provider_name()
    optional = {k: os.environ.get(k) or default for k, default in VARIABLES[name][1].items()}
    return PersonaProvider(api_key=os.environ["IDV_PERSONA_API_KEY"],
                           webhook_secret=os.environ["IDV_PERSONA_WEBHOOK_SECRET"],
                           template_id=os.environ["IDV_PERSONA_TEMPLATE_ID"],
                           api_url=optional["IDV_PERSONA_API_URL"],
                           api_version=optional["IDV_PERSONA_API_VERSION"],
                           timeout=settings.IDV_HTTP_TIMEOUT)
