"""``/scim/v2/``: thin views over ``workflow.provision_scim_user``.

Every request: a bearer token of a live ``DirectoryClient`` (else 401 with
``WWW-Authenticate: Bearer``), counted against the client's rate limit
(429), answered in ``application/scim+json``, and audited as
``scim_request`` with the client, method, path and outcome (a revoked
client's as ``scim_request_refused``; a request with no token or one no
client has is only in the request log, and counts against its address's
limit). A client sees and changes the users of its own source only: any
other is 404. Answers honour ``attributes`` / ``excludedAttributes``
(``projection``); single resources carry their version as a weak ETag,
with ``If-None-Match`` (304) and ``If-Match`` (412) as RFC 7644 §3.14 says.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, ValidationError
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from accounts import ratelimit
from audit.events import client_address, record

from ... import clock, workflow
from ...refusal import WorkflowError
from ..models import DirectoryClient, ScimGroup, ScimUser, SyncRun
from . import projection, schema
from .filters import GROUP_ATTRIBUTES, USER_ATTRIBUTES, to_query
from .schema import CORE, ENTERPRISE, ERROR, GROUP, LIST_RESPONSE, ScimError

CONTENT_TYPE = "application/scim+json"
ACCEPTED_TYPES = ("application/scim+json", "application/json")
BASE = "/scim/v2"


def _url(path: str) -> str:
    return f"{settings.SITE_URL}{BASE}{path}"  # never from the Host header


def respond(body: dict | None, status: int = 200, **headers) -> HttpResponse:
    response = HttpResponse(b"" if body is None else json.dumps(body),
                            status=status, content_type=CONTENT_TYPE)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def error_response(error: ScimError) -> HttpResponse:
    body = {"schemas": [ERROR], "status": str(error.status), "detail": error.detail}
    if error.scim_type:
        body["scimType"] = error.scim_type
    headers = {"WWW_Authenticate": 'Bearer realm="scim"'} if error.status == 401 else {}
    return respond(body, error.status, **headers)


def _bearer(request: HttpRequest) -> str:
    kind, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return token.strip() if kind.lower() == "bearer" else ""


def endpoint(*methods: str) -> Callable:
    """Authenticate, rate-limit, parse, answer errors as RFC 7644 §3.12 and
    audit one SCIM view. The view gets ``(request, client, body, *args)``."""

    def decorator(view: Callable) -> Callable:
        @csrf_exempt
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            client = workflow.directory.directory_client(_bearer(request))
            address = client_address(request)
            subject = f"client:{client.pk}" if client else "unknown-client"
            if not ratelimit.attempt(ratelimit.SCIM, subject, address):
                response = error_response(ScimError(429, "Too many requests: slow down."))
                response["Retry-After"] = str(settings.RATE_LIMIT_SCIM_WINDOW_SECONDS)
            elif client is None or client.is_revoked:
                response = error_response(ScimError(
                    401, "A valid bearer token is required (Authorization: Bearer ...)."))
            else:
                response = _answer(view, request, client, methods, args, kwargs)
            if client is not None:  # no token, or one no client has: the request log only
                _audit(request, client, response)
            return response

        return wrapped

    return decorator


def _answer(view, request, client, methods, args, kwargs) -> HttpResponse:
    if request.method not in methods:
        response = error_response(ScimError(405, f"{request.method} is not allowed here."))
        response["Allow"] = ", ".join(methods)
        return response
    try:
        body = _body(request) if request.method in ("POST", "PUT", "PATCH") else None
        return view(request, client, body, *args, **kwargs)
    except ScimError as error:
        return error_response(error)
    except WorkflowError as refusal:
        return error_response(_from_refusal(refusal, request))


def _body(request: HttpRequest):
    content_type = request.content_type.lower()
    if content_type not in ACCEPTED_TYPES:
        raise ScimError(415, f"Send {CONTENT_TYPE} (or application/json), not "
                             f"{content_type or 'no content type'}.")
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > settings.SCIM_MAX_BODY_BYTES:
        raise ScimError(413, f"The body is larger than {settings.SCIM_MAX_BODY_BYTES} bytes.")
    try:
        raw = request.body
    except RequestDataTooBig:
        raise ScimError(413, "The body is too large.") from None
    if len(raw) > settings.SCIM_MAX_BODY_BYTES:
        raise ScimError(413, f"The body is larger than {settings.SCIM_MAX_BODY_BYTES} bytes.")
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as bad:
        raise ScimError(400, f"The body is not valid JSON: {bad}.", "invalidSyntax") from None


def _from_refusal(refusal: WorkflowError, request: HttpRequest) -> ScimError:
    if refusal.reason in ("stale_user", "stale_group") and "If-Match" in request.headers:
        return ScimError(412, refusal.message)  # changed after its If-Match was checked
    if refusal.reason == "not_unique":
        return ScimError(409, refusal.message, "uniqueness")
    if refusal.reason == "client_revoked":
        return ScimError(401, refusal.message)
    scim_type = "invalidValue" if refusal.status == WorkflowError.BAD_REQUEST else ""
    return ScimError(refusal.status, refusal.message, scim_type)


def _audit(request: HttpRequest, client: DirectoryClient, response: HttpResponse) -> None:
    outcome = {"status": response.status_code}
    if response.status_code >= 400 and response.content:
        body = json.loads(response.content)
        outcome.update(scim_type=body.get("scimType", ""), detail=body["detail"][:300])
    record("scim_request_refused" if client.is_revoked else "scim_request", target=client,
           request=request, client=client.pk, client_name=client.name,
           source=client.source_id, method=request.method, path=request.path[:300], **outcome)
    if not client.is_revoked:
        DirectoryClient.objects.filter(pk=client.pk).update(last_used_at=clock.now())


# --- versions (RFC 7644 §3.14) ------------------------------------------------------

_ENTITY_TAG = re.compile(r'\*|(?:W/)?"[^"]*"')


def _tag(version: int) -> str:
    return f'W/"{version}"'


def _listed(request: HttpRequest, header: str, version: int) -> bool | None:
    """Whether the request's ``If-Match`` / ``If-None-Match`` names this
    version (None: no such header). Weak comparison, as RFC 7644 §3.14's
    examples send a weak tag in ``If-Match``."""
    given = request.headers.get(header)
    if given is None:
        return None
    tags = [tag.removeprefix("W/") for tag in _ENTITY_TAG.findall(given)]
    return "*" in tags or f'"{version}"' in tags


def _not_modified(request: HttpRequest, version: int) -> HttpResponse | None:
    """A GET whose ``If-None-Match`` names the current version: 304."""
    if _listed(request, "If-None-Match", version):
        response = HttpResponse(status=304)
        response["ETag"] = _tag(version)
        return response
    return None


def _require_version(request: HttpRequest, version: int) -> None:
    """A write with ``If-Match`` naming another version (or ``If-None-Match``
    naming this one) changes nothing: 412."""
    if _listed(request, "If-Match", version) is False or \
            _listed(request, "If-None-Match", version):
        raise ScimError(412, f"The resource is at version {_tag(version)}, not the one this "
                             "request names: read it again.")


# --- Users -------------------------------------------------------------------------

def _users(client: DirectoryClient, groups: bool = True):
    """The client's live users, each with its live groups (read-only, RFC
    7643 §4.1.2) in one more query for a whole page, if shown."""
    found = ScimUser.objects.filter(source=client.source_id, deleted_at__isnull=True)
    if not groups:
        return found
    live = ScimGroup.objects.filter(deleted_at__isnull=True).only("scim_id", "display_name")
    return found.prefetch_related(Prefetch("groups", queryset=live, to_attr="live_groups"))


def _user(client: DirectoryClient, scim_id: str, groups: bool = True) -> ScimUser:
    try:
        return _users(client, groups).get(scim_id=scim_id)
    except (ScimUser.DoesNotExist, ValidationError, ValueError):
        raise ScimError(404, f"No user {scim_id} here.") from None


def _user_groups(user: ScimUser) -> list[dict]:
    groups = getattr(user, "live_groups", None)
    if groups is None:  # a row just written: not prefetched
        groups = user.groups.filter(deleted_at__isnull=True).only("scim_id", "display_name")
    return [{"value": str(group.scim_id), "$ref": _url(f"/Groups/{group.scim_id}"),
             "display": group.display_name, "type": "direct"}
            for group in sorted(groups, key=lambda group: group.pk)]


def render_user(user: ScimUser, groups: bool = True) -> dict:
    resource = dict(user.resource)
    if groups and (shown := _user_groups(user)):
        resource["groups"] = shown
    schemas = [CORE, ENTERPRISE] if ENTERPRISE in resource else [CORE]
    return {"schemas": schemas, "id": str(user.scim_id), **resource,
            "meta": {"resourceType": "User", "created": user.created_at.isoformat(),
                     "lastModified": user.updated_at.isoformat(),
                     "location": _url(f"/Users/{user.scim_id}"),
                     "version": _tag(user.version)}}


def _user_renderer(request: HttpRequest) -> tuple[Callable, bool]:
    """How this request shows a user (``attributes`` / ``excludedAttributes``),
    and whether it shows their groups."""
    shown = projection.from_request(request, schema.USER_SCHEMAS)
    groups = shown.shows(schema.USER_SCHEMAS, "groups")
    return (lambda user: shown.apply(render_user(user, groups), schema.USER_SCHEMAS)), groups


def _written(user: ScimUser, request: HttpRequest, status: int = 200) -> HttpResponse:
    body = _user_renderer(request)[0](user)
    return respond(body, status, ETag=body["meta"]["version"], Location=body["meta"]["location"])


def _provision(request, client, user, resource, *, deleted=False, group=False):
    decide = workflow.provision_scim_group if group else workflow.provision_scim_user
    run, written = decide(client, user, resource, deleted=deleted, request=request)
    if run.status == SyncRun.Status.FAILED:
        raise ScimError(400, run.failure_reason, "invalidValue")
    if run.status == SyncRun.Status.WAITING:
        raise ScimError(503, "The change waits for a security admin's confirmation.")
    return written


@endpoint("GET", "POST")
def users(request: HttpRequest, client: DirectoryClient, body) -> HttpResponse:
    if request.method == "POST":
        created = _provision(request, client, None, schema.clean_user(body))
        return _written(created, request, 201)
    render, groups = _user_renderer(request)
    return _list(request, _users(client, groups), render)


def _count(request: HttpRequest, name: str, default: int) -> int:
    value = request.GET.get(name, "")
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ScimError(400, f"{name} must be an integer.", "invalidValue") from None


def _list(request: HttpRequest, found, render: Callable, attributes=USER_ATTRIBUTES,
          core: str = CORE) -> HttpResponse:
    start = max(_count(request, "startIndex", 1), 1)
    count = min(max(_count(request, "count", settings.SCIM_PAGE_SIZE), 0),
                settings.SCIM_MAX_PAGE_SIZE)
    if request.GET.get("filter", "").strip():
        found = found.filter(to_query(request.GET["filter"], attributes, core))
    total = found.count()
    # The page's ids first (an index-only scan past ``startIndex``), then its
    # rows: an OFFSET over whole rows would read every row it skips.
    ids = found.order_by("pk").values("pk")[start - 1:start - 1 + count]
    page = list(found.filter(pk__in=ids).order_by("pk")) if count else []
    return respond({"schemas": [LIST_RESPONSE], "totalResults": total,
                    "itemsPerPage": len(page), "startIndex": start,
                    "Resources": [render(item) for item in page]})


@endpoint("GET", "PUT", "PATCH", "DELETE")
def user(request: HttpRequest, client: DirectoryClient, body, scim_id: str) -> HttpResponse:
    if request.method == "GET":
        found = _user(client, scim_id, _user_renderer(request)[1])
        return _not_modified(request, found.version) or _written(found, request)
    found = _user(client, scim_id)
    _require_version(request, found.version)
    if request.method == "DELETE":
        _provision(request, client, found, found.resource, deleted=True)
        return respond(None, 204)
    if request.method == "PUT":
        resource = schema.clean_user(body)
    else:
        resource = schema.clean_user(schema.apply_patch(found.resource, body))
        if resource == found.resource:
            return _written(found, request)  # nothing changes: no run
    return _written(_provision(request, client, found, resource), request)


# --- Groups ------------------------------------------------------------------------

def _groups(client: DirectoryClient, members: bool = True):
    found = ScimGroup.objects.filter(source=client.source_id, deleted_at__isnull=True)
    if not members:  # Entra ID asks so before large groups: no member is read
        return found
    live = ScimUser.objects.filter(deleted_at__isnull=True).only("scim_id", "user_name")
    return found.prefetch_related(Prefetch("members", queryset=live))


def _group(client: DirectoryClient, scim_id: str, members: bool = True) -> ScimGroup:
    try:
        return _groups(client, members).get(scim_id=scim_id)
    except (ScimGroup.DoesNotExist, ValidationError, ValueError):
        raise ScimError(404, f"No group {scim_id} here.") from None


def _group_resource(group: ScimGroup) -> dict:
    resource = {"displayName": group.display_name,
                "members": [{"value": str(user.scim_id)} for user in group.members.all()]}
    if group.external_id:
        resource["externalId"] = group.external_id
    return resource


def render_group(group: ScimGroup, members: bool = True) -> dict:
    resource = {"displayName": group.display_name}
    if members:
        resource["members"] = [
            {"value": str(user.scim_id), "display": user.user_name, "type": "User",
             "$ref": _url(f"/Users/{user.scim_id}")} for user in group.members.all()]
    if group.external_id:
        resource["externalId"] = group.external_id
    return {"schemas": [GROUP], "id": str(group.scim_id), **resource,
            "meta": {"resourceType": "Group", "created": group.created_at.isoformat(),
                     "lastModified": group.updated_at.isoformat(),
                     "location": _url(f"/Groups/{group.scim_id}"),
                     "version": _tag(group.version)}}


def _group_renderer(request: HttpRequest) -> tuple[Callable, bool]:
    """How this request shows a group, and whether it shows its members."""
    shown = projection.from_request(request, schema.GROUP_SCHEMAS)
    members = shown.shows(schema.GROUP_SCHEMAS, "members")
    return (lambda group: shown.apply(render_group(group, members), schema.GROUP_SCHEMAS)), members


def _group_written(group: ScimGroup, request: HttpRequest, status: int = 200) -> HttpResponse:
    body = _group_renderer(request)[0](group)
    return respond(body, status, ETag=body["meta"]["version"], Location=body["meta"]["location"])


@endpoint("GET", "POST")
def groups(request: HttpRequest, client: DirectoryClient, body) -> HttpResponse:
    if request.method == "POST":
        created = _provision(request, client, None, schema.clean_group(body), group=True)
        return _group_written(_group(client, str(created.scim_id)), request, 201)
    render, members = _group_renderer(request)
    return _list(request, _groups(client, members), render, GROUP_ATTRIBUTES, GROUP)


@endpoint("GET", "PUT", "PATCH", "DELETE")
def group(request: HttpRequest, client: DirectoryClient, body, scim_id: str) -> HttpResponse:
    if request.method == "GET":
        found = _group(client, scim_id, _group_renderer(request)[1])
        return _not_modified(request, found.version) or _group_written(found, request)
    found = _group(client, scim_id)
    _require_version(request, found.version)
    current = _group_resource(found)
    if request.method == "DELETE":
        _provision(request, client, found, current, deleted=True, group=True)
        return respond(None, 204)
    if request.method == "PUT":
        resource = schema.clean_group(body)
    else:
        resource = schema.clean_group(schema.apply_patch(current, body, schema.GROUP_SCHEMAS))
        if resource == schema.clean_group(current):
            return _group_written(found, request)  # nothing changes: no run
    _provision(request, client, found, resource, group=True)
    return _group_written(_group(client, scim_id), request)


# --- discovery (RFC 7644 §4) ----------------------------------------------------------

def _schema(uri: str) -> dict:
    name, description, attributes = schema.SCHEMAS[uri]
    return {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"], "id": uri,
            "name": name, "description": description,
            "attributes": [_attribute(a) for a in attributes],
            "meta": {"resourceType": "Schema", "location": _url(f"/Schemas/{uri}")}}


def _attribute(attribute: schema.Attribute) -> dict:
    described = {"name": attribute.name, "type": attribute.type,
                 "multiValued": attribute.multi, "description": attribute.description,
                 "required": attribute.required, "caseExact": attribute.case_exact,
                 "mutability": attribute.mutability, "returned": attribute.returned,
                 "uniqueness": attribute.uniqueness}
    if attribute.subs:
        described["subAttributes"] = [_attribute(sub) for sub in attribute.subs]
    if attribute.type == "reference":
        described["referenceTypes"] = ["external"] if attribute.name != "$ref" else ["User"]
    return described


USER_TYPE = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"], "id": "User",
    "name": "User", "endpoint": "/Users", "description": "People and accounts of the source.",
    "schema": CORE, "schemaExtensions": [{"schema": ENTERPRISE, "required": False}],
}


@endpoint("GET")
def service_provider_config(request: HttpRequest, client: DirectoryClient, body) -> HttpResponse:
    return respond({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0,
                 "maxPayloadSize": settings.SCIM_MAX_BODY_BYTES},
        "filter": {"supported": True, "maxResults": settings.SCIM_MAX_PAGE_SIZE},
        "changePassword": {"supported": False}, "sort": {"supported": False},
        "etag": {"supported": True},
        "authenticationSchemes": [{
            "type": "oauthbearertoken", "name": "Bearer token", "primary": True,
            "description": "The token shown once when a security admin creates the "
                           "directory client."}],
        "meta": {"resourceType": "ServiceProviderConfig",
                 "location": _url("/ServiceProviderConfig")}})


GROUP_TYPE = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"], "id": "Group",
    "name": "Group", "endpoint": "/Groups",
    "description": "Groups of the source: their names feed the mapping's group rules.",
    "schema": GROUP, "schemaExtensions": [],
}


@endpoint("GET")
def resource_types(request: HttpRequest, client: DirectoryClient, body,
                   name: str = "") -> HttpResponse:
    described = {kind["id"]: {**kind, "meta": {
        "resourceType": "ResourceType", "location": _url(f"/ResourceTypes/{kind['id']}")}}
        for kind in (USER_TYPE, GROUP_TYPE)}
    if name:
        if name not in described:
            raise ScimError(404, f"No resource type {name}.")
        return respond(described[name])
    return respond({"schemas": [LIST_RESPONSE], "totalResults": len(described),
                    "itemsPerPage": len(described), "startIndex": 1,
                    "Resources": list(described.values())})


@endpoint("GET")
def schemas(request: HttpRequest, client: DirectoryClient, body, uri: str = "") -> HttpResponse:
    if uri:
        if uri not in schema.SCHEMAS:
            raise ScimError(404, f"No schema {uri}.")
        return respond(_schema(uri))
    described = [_schema(uri) for uri in schema.SCHEMAS]
    return respond({"schemas": [LIST_RESPONSE], "totalResults": len(described),
                    "itemsPerPage": len(described), "startIndex": 1, "Resources": described})
