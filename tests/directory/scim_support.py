"""A SCIM source and client, and a test client that speaks SCIM to it."""

from __future__ import annotations

import json

from django.test import Client

from recovery_console import workflow
from recovery_console.directory.models import DirectorySource, MappingRule
from recovery_console.directory.scim.schema import CORE, ENTERPRISE, PATCH_OP, SOURCE_MAPPING
from tests.factories import staff

SCIM = "application/scim+json"


def scim_source(name: str = "Entra ID") -> DirectorySource:
    """A SCIM source with the starting mapping; ``userType`` Contractor makes
    a contractor, group ``admins`` makes privileged."""
    source = DirectorySource.objects.create(name=name, kind="scim", **SOURCE_MAPPING)
    MappingRule.objects.create(source=source, position=0, field="kind", match_on="attribute",
                               attribute="userType", value="Contractor", result="contractor")
    return source


class ScimClient:
    """Django's test client with a bearer token and SCIM bodies."""

    def __init__(self, token: str | None):
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def _send(self, method: str, path: str, body, content_type: str = SCIM,
              headers: dict | None = None):
        data = body if isinstance(body, bytes | str) else json.dumps(body)
        return getattr(self.client, method.lower())(
            f"/scim/v2/{path}", data, content_type=content_type,
            headers={**self.headers, **(headers or {})})

    def get(self, path, **params):
        return self.client.get(f"/scim/v2/{path}", params, headers=self.headers)

    def post(self, path, body, **kw):
        return self._send("POST", path, body, **kw)

    def put(self, path, body, **kw):
        return self._send("PUT", path, body, **kw)

    def patch(self, path, *operations, **kw):
        return self._send("PATCH", path, {"schemas": [PATCH_OP], "Operations": list(operations)},
                          **kw)

    def delete(self, path):
        return self.client.delete(f"/scim/v2/{path}", headers=self.headers)


def client_for(source: DirectorySource, name: str = "provisioning") -> tuple[ScimClient, object]:
    """A directory client of ``source`` made by a security admin, and its SCIM test client."""
    admin = staff("security_admin", is_staff=True)
    directory_client, token = workflow.create_directory_client(f"{name} {source.pk}", source,
                                                               admin)
    return ScimClient(token), directory_client


def user_body(user_name: str, *, given: str = "Ada", family: str = "Lovelace",
              email: str | None = None, manager: str = "", **extra) -> dict:
    """A User as Entra ID's provisioning sends one (its default attribute mapping)."""
    body = {
        "schemas": [CORE, ENTERPRISE], "externalId": f"ext-{user_name}", "userName": user_name,
        "active": True, "displayName": f"{given} {family}",
        "name": {"givenName": given, "familyName": family, "formatted": f"{given} {family}"},
        "emails": [{"primary": True, "type": "work", "value": email or user_name}],
        "title": "Engineer",
        ENTERPRISE: {"department": "Research", "employeeNumber": "1001"},
    }
    if manager:
        body[ENTERPRISE]["manager"] = {"value": manager}
    body.update(extra)
    return body
