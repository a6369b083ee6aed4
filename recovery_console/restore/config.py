"""A target's connector, built from the environment: credentials are never
in the database. For a target named NAME the variables are
``RESTORE_<NAME>_<SETTING>`` (docs/restore-targets.md lists them), read at
each hand-off, so a rotated secret is used from the next one on."""

from __future__ import annotations

import os
from dataclasses import dataclass

from django.conf import settings

from .models import RestoreTarget
from .providers import Connector
from .providers.entra import GRAPH, LOGIN, EntraConnector
from .providers.keycloak import KeycloakConnector
from .providers.okta import OktaConnector


@dataclass(frozen=True)
class Setting:
    name: str
    required: bool = True
    default: str = ""


SETTINGS: dict[str, tuple[Setting, ...]] = {
    RestoreTarget.Kind.ENTRA: (
        Setting("TENANT"), Setting("CLIENT_ID"), Setting("CLIENT_SECRET"),
        Setting("GRAPH_URL", False, GRAPH), Setting("LOGIN_URL", False, LOGIN)),
    RestoreTarget.Kind.OKTA: (
        Setting("ORG_URL"), Setting("API_TOKEN"), Setting("TAC_AUTHENTICATOR_ID")),
    RestoreTarget.Kind.KEYCLOAK: (
        Setting("BASE_URL"), Setting("REALM"), Setting("CLIENT_ID"), Setting("CLIENT_SECRET"),
        Setting("TOKEN_REALM", False), Setting("REDIRECT_CLIENT_ID", False),
        Setting("REDIRECT_URI", False)),
}


class NotConfigured(Exception):
    """Variables a target needs are missing from the environment (named, never valued)."""

    def __init__(self, target: RestoreTarget, missing: list[str]):
        self.missing = missing
        super().__init__(
            f"The restore target {target.name} is missing its environment variables "
            f"{', '.join(missing)} on the workers.")


def variable(target: RestoreTarget, setting: str) -> str:
    return f"RESTORE_{target.name}_{setting}"


def missing_variables(target: RestoreTarget) -> list[str]:
    return [variable(target, s.name) for s in SETTINGS.get(target.kind, ())
            if s.required and not os.environ.get(variable(target, s.name))]


def connector_for(target: RestoreTarget) -> Connector:
    """The target's connector with its credentials from the environment;
    NotConfigured names what is missing."""
    missing = missing_variables(target)
    if missing:
        raise NotConfigured(target, missing)
    values = {s.name.lower(): os.environ.get(variable(target, s.name)) or s.default
              for s in SETTINGS[target.kind]}
    timeout = settings.RESTORE_HTTP_TIMEOUT
    if target.kind == RestoreTarget.Kind.ENTRA:
        return EntraConnector(tenant=values["tenant"], client_id=values["client_id"],
                              client_secret=values["client_secret"],
                              graph_url=values["graph_url"], login_url=values["login_url"],
                              timeout=timeout)
    if target.kind == RestoreTarget.Kind.OKTA:
        return OktaConnector(org_url=values["org_url"], api_token=values["api_token"],
                             tac_authenticator_id=values["tac_authenticator_id"],
                             timeout=timeout)
    return KeycloakConnector(base_url=values["base_url"], realm=values["realm"],
                             client_id=values["client_id"],
                             client_secret=values["client_secret"],
                             token_realm=values["token_realm"],
                             redirect_client_id=values["redirect_client_id"],
                             redirect_uri=values["redirect_uri"], timeout=timeout)
