"""The SCIM User (RFC 7643 §4.1) and enterprise extension (§4.3) as data:
cleaning what a client sends, PATCH (RFC 7644 §3.5.2) onto the whole
resource, and the flat record the source's mapping reads.

Attribute names are case-insensitive on the wire and kept in their schema
spelling here. Clients' habits are accepted as RFC 7644 allows and Entra ID
documents: PATCH op names in any case (``"Replace"``), booleans sent as the
strings ``"True"`` / ``"False"``, a manager given as its id alone.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


class ScimError(Exception):
    """A request the service provider refuses: RFC 7644 §3.12."""

    def __init__(self, status: int, detail: str, scim_type: str = ""):
        super().__init__(detail)
        self.status, self.detail, self.scim_type = status, detail, scim_type


def invalid(detail: str, scim_type: str = "invalidValue") -> ScimError:
    return ScimError(400, detail, scim_type)


@dataclass(frozen=True)
class Attribute:
    name: str
    type: str = "string"  # string, boolean, complex, reference
    multi: bool = False
    subs: tuple[Attribute, ...] = ()
    required: bool = False
    mutability: str = "readWrite"
    returned: str = "default"
    uniqueness: str = "none"
    case_exact: bool = False
    description: str = ""

    def sub(self, name: str) -> Attribute | None:
        return next((s for s in self.subs if s.name.lower() == name.lower()), None)


def _plural(*extra: Attribute) -> tuple[Attribute, ...]:
    return (Attribute("value"), Attribute("display"), Attribute("type"),
            Attribute("primary", "boolean"), *extra)


USER = (
    Attribute("userName", required=True, uniqueness="server",
              description="Unique identifier for the User: the console's directory id."),
    Attribute("name", "complex", subs=tuple(Attribute(n) for n in (
        "formatted", "familyName", "givenName", "middleName", "honorificPrefix",
        "honorificSuffix"))),
    Attribute("displayName", description="The name the console shows."),
    Attribute("nickName"), Attribute("profileUrl", "reference"), Attribute("title"),
    Attribute("userType"), Attribute("preferredLanguage"), Attribute("locale"),
    Attribute("timezone"),
    Attribute("active", "boolean",
              description="False deprovisions: the identity is deactivated and everything "
                          "resting on it revoked."),
    Attribute("password", mutability="writeOnly", returned="never",
              description="Accepted and discarded: the console keeps no passwords."),
    Attribute("emails", "complex", multi=True, subs=_plural()),
    Attribute("phoneNumbers", "complex", multi=True, subs=_plural()),
    Attribute("ims", "complex", multi=True, subs=_plural()),
    Attribute("photos", "complex", multi=True, subs=_plural()),
    Attribute("addresses", "complex", multi=True, subs=(
        *(Attribute(n) for n in ("formatted", "streetAddress", "locality", "region",
                                 "postalCode", "country", "type")),
        Attribute("primary", "boolean"))),
    Attribute("groups", "complex", multi=True, mutability="readOnly", subs=(
        Attribute("value"), Attribute("$ref", "reference"), Attribute("display"),
        Attribute("type"))),
    Attribute("entitlements", "complex", multi=True, subs=_plural()),
    Attribute("roles", "complex", multi=True, subs=_plural()),
    Attribute("x509Certificates", "complex", multi=True, subs=_plural()),
    Attribute("externalId", case_exact=True, description="The client's own id for the user."),
)
ENTERPRISE_USER = (
    Attribute("employeeNumber"), Attribute("costCenter"), Attribute("organization"),
    Attribute("division"), Attribute("department"),
    Attribute("manager", "complex", subs=(
        Attribute("value", description="The manager's SCIM id."),
        Attribute("$ref", "reference"), Attribute("displayName", mutability="readOnly"))),
)
GROUP_ATTRIBUTES = (
    Attribute("displayName", required=True, uniqueness="server",
              description="The group's name: what the source's group rules match."),
    Attribute("members", "complex", multi=True, subs=(
        Attribute("value", description="A member user's SCIM id."),
        Attribute("$ref", "reference"), Attribute("display", mutability="readOnly"),
        Attribute("type"))),
    Attribute("externalId", case_exact=True, description="The client's own id for the group."),
)
SCHEMAS = {CORE: ("User", "User Account", USER),
           ENTERPRISE: ("EnterpriseUser", "Enterprise User", ENTERPRISE_USER),
           GROUP: ("Group", "Group", GROUP_ATTRIBUTES)}
USER_SCHEMAS = (CORE, ENTERPRISE)
GROUP_SCHEMAS = (GROUP,)
IGNORED = {"id", "meta", "schemas"}  # read-only: a client's values are ignored (§3.3)


def _find(attributes: tuple[Attribute, ...], name: str) -> Attribute | None:
    return next((a for a in attributes if a.name.lower() == name.lower()), None)


# --- cleaning a resource ---------------------------------------------------------

def _boolean(value, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"  # Entra ID sends "True" / "False"
    raise invalid(f"{where} must be true or false.")


def _simple(attribute: Attribute, value, where: str):
    if attribute.type == "boolean":
        return _boolean(value, where)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise invalid(f"{where} must be a string.")
    return str(value)


def _complex(attribute: Attribute, value, where: str) -> dict:
    if attribute.name == "manager" and isinstance(value, str):
        value = {"value": value}  # Entra ID sends the manager's id alone
    if not isinstance(value, dict):
        raise invalid(f"{where} must be an object.")
    cleaned = {}
    for key, item in value.items():
        sub = attribute.sub(key)
        if sub is None:
            raise invalid(f"{where}.{key} is not an attribute of {attribute.name}.")
        if item is not None and sub.mutability != "readOnly":
            cleaned[sub.name] = _simple(sub, item, f"{where}.{sub.name}")
    return cleaned


def clean_value(attribute: Attribute, value, where: str = ""):
    """``value`` for ``attribute`` in its stored form; None: unassigned."""
    where = where or attribute.name
    if value is None:
        return None
    if attribute.multi:
        items = value if isinstance(value, list) else [value]
        cleaned = [_complex(attribute, item, where) for item in items if item is not None]
        return [item for item in cleaned if item] or None
    if attribute.type == "complex":
        return _complex(attribute, value, where) or None
    return _simple(attribute, value, where)


def _clean_attributes(attributes: tuple[Attribute, ...], given: dict, where: str) -> dict:
    cleaned = {}
    for key, value in given.items():
        attribute = _find(attributes, key)
        if attribute is None:
            raise invalid(f"{key!r} is not an attribute of {where}.")
        if attribute.mutability in ("readOnly",) or attribute.name == "password":
            continue  # read-only attributes are ignored; a password is never kept
        value = clean_value(attribute, value)
        if value is not None:
            cleaned[attribute.name] = value
    return cleaned


def clean_user(payload) -> dict:
    """A User as a client sent it (POST, PUT, or after a PATCH), in stored
    form: attribute names in schema spelling, booleans as booleans, the
    enterprise extension under its URN. Unknown attributes are refused."""
    if not isinstance(payload, dict):
        raise invalid("The body must be a JSON object.", "invalidSyntax")
    schemas = payload.get("schemas", [CORE])
    if not isinstance(schemas, list) or any(
            not isinstance(s, str) or s.lower() not in {CORE.lower(), ENTERPRISE.lower()}
            for s in schemas):
        raise invalid(f"schemas must list {CORE} (and {ENTERPRISE} if used).")
    core, extension = {}, None
    for key, value in payload.items():
        if key.lower() in IGNORED:
            continue
        if key.lower() == ENTERPRISE.lower():
            if value is not None and not isinstance(value, dict):
                raise invalid(f"{ENTERPRISE} must be an object.")
            extension = _clean_attributes(ENTERPRISE_USER, value or {}, ENTERPRISE)
        elif key.lower().startswith(CORE.lower() + ":"):
            core[key[len(CORE) + 1:]] = value
        else:
            core[key] = value
    cleaned = _clean_attributes(USER, core, "User")
    if not str(cleaned.get("userName", "")).strip():
        raise invalid("userName is required.")
    cleaned["userName"] = cleaned["userName"].strip()
    cleaned.setdefault("active", True)
    if extension:
        cleaned[ENTERPRISE] = extension
    return cleaned


def clean_group(payload) -> dict:
    """A Group in stored form; ``members`` a list of ``{"value": id}``."""
    if not isinstance(payload, dict):
        raise invalid("The body must be a JSON object.", "invalidSyntax")
    schemas = payload.get("schemas", [GROUP])
    if not isinstance(schemas, list) or any(
            not isinstance(s, str) or s.lower() != GROUP.lower() for s in schemas):
        raise invalid(f"schemas must be [{GROUP!r}].")
    given = {key.removeprefix(GROUP + ":"): value for key, value in payload.items()
             if key.lower() not in IGNORED}
    cleaned = _clean_attributes(GROUP_ATTRIBUTES, given, "Group")
    if not str(cleaned.get("displayName", "")).strip():
        raise invalid("displayName is required.")
    cleaned["displayName"] = cleaned["displayName"].strip()
    members = []
    for member in cleaned.get("members", []):
        if not member.get("value"):
            raise invalid("Each member needs its value (the user's id).")
        if member["value"] not in [m["value"] for m in members]:
            members.append({"value": member["value"]})
    cleaned["members"] = members
    return cleaned


# --- PATCH -----------------------------------------------------------------------

_PATH = re.compile(
    r'^(?P<attr>[A-Za-z$][\w$-]*)'
    r'(?:\[\s*(?P<fattr>[A-Za-z$][\w$-]*)\s+eq\s+(?:"(?P<fval>[^"]*)"|(?P<fbool>true|false))\s*\])?'
    r'(?:\.(?P<sub>[A-Za-z$][\w$-]*))?$', re.IGNORECASE)


@dataclass(frozen=True)
class Path:
    schema: str
    attribute: Attribute | None  # None: the whole extension
    sub: Attribute | None = None
    selector: tuple[str, str] | None = None  # (sub-attribute, value) from [x eq "y"]


def parse_path(text, schemas: tuple[str, ...] = USER_SCHEMAS) -> Path:
    """``name.givenName``, ``emails[type eq "work"].value``, ``<URN>:manager``...
    ``schemas``: the resource's core schema first, then its extensions."""
    if not isinstance(text, str) or not text.strip():
        raise invalid("A PATCH path must be a non-empty string.", "invalidPath")
    text, schema = text.strip(), schemas[0]
    for urn in reversed(schemas):
        if text.lower() == urn.lower():
            if urn == schemas[0]:
                raise invalid("A PATCH path must name an attribute.", "invalidPath")
            return Path(urn, None)
        if text.lower().startswith(urn.lower() + ":"):
            text, schema = text[len(urn) + 1:], urn
            break
    match = _PATH.match(text)
    if not match:
        raise invalid(f"The PATCH path {text!r} is not one this service understands.",
                      "invalidPath")
    attribute = _find(SCHEMAS[schema][2], match["attr"])
    if attribute is None:
        raise invalid(f"{match['attr']!r} is not an attribute of {SCHEMAS[schema][0]}.",
                      "invalidPath")
    sub = selector = None
    if match["sub"]:
        sub = attribute.sub(match["sub"])
        if sub is None:
            raise invalid(f"{match['sub']!r} is not an attribute of {attribute.name}.",
                          "invalidPath")
    if match["fattr"]:
        chosen = attribute.sub(match["fattr"]) if attribute.multi else None
        if chosen is None:
            raise invalid(f"{attribute.name}[{match['fattr']} eq ...] selects nothing.",
                          "invalidFilter")
        selector = (chosen.name, match["fval"] if match["fval"] is not None
                    else match["fbool"].lower() == "true")
    if attribute.mutability == "readOnly":
        raise invalid(f"{attribute.name} is read-only.", "mutability")
    return Path(schema, attribute, sub, selector)


def apply_patch(resource: dict, body, schemas: tuple[str, ...] = USER_SCHEMAS) -> dict:
    """The resource after a PatchOp request's operations, all or none: any
    operation that cannot apply refuses the whole request."""
    if not isinstance(body, dict):
        raise invalid("The body must be a JSON object.", "invalidSyntax")
    declared = body.get("schemas")
    if not isinstance(declared, list) or \
            PATCH_OP.lower() not in [str(s).lower() for s in declared]:
        raise invalid(f"A PATCH body's schemas must be [{PATCH_OP!r}].", "invalidSyntax")
    operations = next((v for k, v in body.items() if k.lower() == "operations"), None)
    if not isinstance(operations, list) or not operations:
        raise invalid("A PATCH body needs a non-empty Operations list.", "invalidSyntax")
    result = copy.deepcopy(resource)
    for operation in operations:
        if not isinstance(operation, dict):
            raise invalid("Each operation must be an object.", "invalidSyntax")
        op = str(operation.get("op", "")).lower()  # Entra ID: "Add", "Replace", "Remove"
        if op not in ("add", "replace", "remove"):
            raise invalid(f"The op {operation.get('op')!r} is not add, replace or remove.",
                          "invalidSyntax")
        path, value = operation.get("path"), operation.get("value")
        if path:
            _apply(result, op, parse_path(path, schemas), value)
        elif op == "remove":
            raise invalid("A remove operation needs a path.", "noTarget")
        elif isinstance(value, dict):  # no path: each key is a path (Okta, Entra)
            for key, item in value.items():
                if key.lower() not in IGNORED:
                    _apply(result, op, parse_path(key, schemas), item)
        else:
            raise invalid("An operation without a path needs an object value.")
    return result


def _apply(resource: dict, op: str, path: Path, value) -> None:
    if path.attribute is None:  # the whole enterprise extension
        if op == "remove":
            resource.pop(ENTERPRISE, None)
            return
        if not isinstance(value, dict):
            raise invalid(f"{ENTERPRISE} must be an object.")
        for key, item in value.items():
            _apply(resource, op, parse_path(f"{ENTERPRISE}:{key}"), item)
        return
    container = resource.setdefault(ENTERPRISE, {}) if path.schema == ENTERPRISE else resource
    name, attribute = path.attribute.name, path.attribute
    if attribute.name == "password":
        return
    if path.selector is not None:
        _apply_selected(container, op, path, value)
    elif path.sub is not None:
        targets = container.get(name, []) if attribute.multi else \
            [container.setdefault(name, {})]
        for target in targets:
            if op == "remove":
                target.pop(path.sub.name, None)
            else:
                cleaned = clean_value(path.sub, value, f"{name}.{path.sub.name}")
                if cleaned is None:
                    target.pop(path.sub.name, None)
                else:
                    target[path.sub.name] = cleaned
    elif op == "remove" and attribute.multi and value is not None:
        # Entra ID removes group members by value: {"path": "members", "value": [...]}
        gone = {item.get("value") for item in clean_value(attribute, value) or []}
        container[name] = [item for item in container.get(name, [])
                           if item.get("value") not in gone]
    elif op == "remove":
        container.pop(name, None)
    else:
        cleaned = clean_value(attribute, value)
        if cleaned is None:
            container.pop(name, None)
        elif attribute.multi and op == "add":
            merged = list(container.get(name, []))
            merged += [item for item in cleaned if item not in merged and (
                "value" not in item or item["value"] not in [m.get("value") for m in merged])]
            container[name] = merged
        elif attribute.type == "complex" and not attribute.multi and op == "add":
            container[name] = {**container.get(name, {}), **cleaned}
        else:
            container[name] = cleaned
    _tidy(container, name)
    if path.schema == ENTERPRISE and not resource.get(ENTERPRISE):
        resource.pop(ENTERPRISE, None)


def _apply_selected(container: dict, op: str, path: Path, value) -> None:
    """``emails[type eq "work"].value``: the entries the selector picks; an
    add or replace that picks none adds one (as Entra ID expects)."""
    name, (key, wanted) = path.attribute.name, path.selector
    items = container.get(name, [])

    def picked(item: dict) -> bool:
        have = item.get(key)
        return have == wanted if isinstance(wanted, bool) else \
            str(have or "").lower() == str(wanted).lower()

    chosen = [item for item in items if picked(item)]
    if op == "remove":
        if path.sub is None:
            container[name] = [item for item in items if not picked(item)]
        for item in chosen:
            if path.sub is not None:
                item.pop(path.sub.name, None)
        return
    if path.sub is not None:
        cleaned = clean_value(path.sub, value, f"{name}.{path.sub.name}")
        if not chosen:
            chosen = [{key: wanted}]
            container[name] = [*items, chosen[0]]
        for item in chosen:
            if cleaned is None:
                item.pop(path.sub.name, None)
            else:
                item[path.sub.name] = cleaned
        return
    cleaned = clean_value(path.attribute, value, name)
    replacement = [{**item, key: wanted} for item in (cleaned or [])]
    container[name] = [item for item in items if not picked(item)] + replacement


def _tidy(container: dict, name: str) -> None:
    """An emptied complex value (every sub-attribute removed) is unassigned."""
    value = container.get(name)
    if isinstance(value, list):
        value = [item for item in value if item]
        container[name] = value
    if value in ({}, [], None, ""):
        container.pop(name, None)


# --- the record the mapping reads ------------------------------------------------

RECORD_ATTRIBUTES = (
    "id", "userName", "externalId", "displayName", "givenName", "familyName", "title",
    "userType", "active", "email", "mobile", "phone", "department", "employeeNumber",
    "costCenter", "organization", "division", "manager", "groups")


def _pick(items: list[dict], wanted_type: str, fallback: bool) -> str:
    """The value of the entry of that type; else (``fallback``) the primary
    entry, else the first."""
    for item in items:
        if str(item.get("type", "")).lower() == wanted_type:
            return item.get("value", "")
    if fallback and items:
        primary = next((item for item in items if item.get("primary") is True), items[0])
        return primary.get("value", "")
    return ""


def record(resource: dict, scim_id: str, *, groups: list[str] | tuple = (),
           deleted: bool = False) -> dict:
    """The user as one flat record for the source's mapping (attribute names
    in ``RECORD_ATTRIBUTES``; docs/directory.md lists them). Every name is
    present, empty when unassigned: the record is the user's whole state."""
    from ..mapping import DELETED

    name = resource.get("name", {})
    extension = resource.get(ENTERPRISE, {})
    given, family = name.get("givenName", ""), name.get("familyName", "")
    display = (resource.get("displayName") or name.get("formatted")
               or " ".join(part for part in (given, family) if part) or resource["userName"])
    phones = resource.get("phoneNumbers", [])
    result = {
        "id": scim_id, "userName": resource["userName"],
        "externalId": resource.get("externalId", ""), "displayName": display,
        "givenName": given, "familyName": family, "title": resource.get("title", ""),
        "userType": resource.get("userType", ""),
        "active": "true" if resource.get("active", True) else "false",
        "email": _pick(resource.get("emails", []), "work", fallback=True),
        "mobile": _pick(phones, "mobile", fallback=False),
        "phone": _pick(phones, "work", fallback=False),
        "manager": extension.get("manager", {}).get("value", ""),
        "groups": sorted(groups),
        **{key: extension.get(key, "") for key in
           ("department", "employeeNumber", "costCenter", "organization", "division")},
    }
    if deleted:
        result[DELETED] = True
    return result


# The mapping a SCIM source starts with (docs/directory.md): every field the
# console can take from a SCIM user. ``active`` false deprovisions.
SOURCE_MAPPING = {
    "external_id_attribute": "id", "identifier_attribute": "userName",
    "display_name_attribute": "displayName", "department_attribute": "department",
    "groups_attribute": "groups", "dn_attribute": "", "manager_attribute": "manager",
    "sponsor_attribute": "", "owner_attribute": "", "email_attribute": "email",
    "phone_attribute": "mobile", "callback_phone_attribute": "phone",
    "enabled_attribute": "active", "disabled_values": "false",
}
