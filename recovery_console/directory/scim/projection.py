"""``attributes`` and ``excludedAttributes`` (RFC 7644 §3.4.2.5, §3.9): which
attributes of a resource a response carries.

Names are in standard attribute notation (§3.10), in any letter case:
``userName``, ``name.givenName``, ``emails.value``, or with the schema's URN
in front (``urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager``,
or an extension's URN alone for the whole extension). ``id``, ``schemas`` and
``meta`` are always returned; a ``returned: never`` attribute (``password``)
never is.

A name that is no attribute of the resource selects nothing and is not an
error. RFC 7644 defines no error for it: §3.12's ``invalidFilter`` is for
``filter`` and ``invalidPath`` for a PATCH ``path``, and §3.4.2 asks a
service provider to ignore what it does not recognise in a query rather than
refuse it. So a client asking for an attribute this service does not keep
(an extension of its own) still gets the resource, with the minimum set.
Asking for both parameters at once is refused: §3.9 calls them mutually
exclusive.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest

from .schema import SCHEMAS, Attribute, ScimError, _find

ALWAYS = ("schemas", "id", "meta")


@dataclass(frozen=True)
class Selected:
    schema: str  # the URN; the core schema's attributes sit at the top level
    attribute: Attribute | None  # None: the whole extension
    sub: Attribute | None = None


@dataclass(frozen=True)
class Projection:
    """What a response shows: ``include`` (``attributes``) or ``exclude``
    (``excludedAttributes``); neither given: the default set."""

    include: tuple[Selected, ...] | None = None
    exclude: tuple[Selected, ...] = ()

    def shows(self, schemas: tuple[str, ...], name: str) -> bool:
        """Whether the response shows the core attribute ``name`` at all (to
        spare a query for what it leaves out)."""
        attribute = _find(SCHEMAS[schemas[0]][2], name)
        if self.include is not None:
            return any(s.attribute == attribute for s in self.include)
        return not any(s.attribute == attribute and s.sub is None for s in self.exclude)

    def apply(self, body: dict, schemas: tuple[str, ...]) -> dict:
        if self.include is not None:
            shown = {key: body[key] for key in ALWAYS if key in body}
            for selected in self.include:
                _copy(body, shown, selected, schemas[0])
            for container in (shown, *(shown[urn] for urn in schemas[1:] if urn in shown)):
                for name in list(container):
                    if name not in ALWAYS:
                        _tidy(container, name)
            return shown
        shown = dict(body)
        for selected in self.exclude:
            _drop(shown, selected, schemas[0])
        return shown


def _names(request: HttpRequest, parameter: str) -> list[str] | None:
    given = next((v for k, v in request.GET.items() if k.lower() == parameter.lower()), None)
    if given is None:
        return None
    return [name.strip() for name in given.split(",") if name.strip()]


def from_request(request: HttpRequest, schemas: tuple[str, ...]) -> Projection:
    """The projection a request asks for, for a resource of ``schemas`` (its
    core schema first, then its extensions)."""
    include, exclude = _names(request, "attributes"), _names(request, "excludedAttributes")
    if include is not None and exclude is not None:
        raise ScimError(400, "attributes and excludedAttributes cannot be given together "
                             "(RFC 7644 §3.9).")
    if include is not None:
        return Projection(include=tuple(filter(None, (resolve(n, schemas) for n in include))))
    return Projection(exclude=tuple(filter(None, (resolve(n, schemas) for n in exclude or ()))))


def resolve(name: str, schemas: tuple[str, ...]) -> Selected | None:
    """``name`` as an attribute (and sub-attribute) of the resource; None
    when it is none, or one that is always or never returned."""
    schema, rest = schemas[0], name
    for urn in schemas:
        if name.lower() == urn.lower():
            return Selected(urn, None) if urn != schemas[0] else None
        if name.lower().startswith(urn.lower() + ":"):
            schema, rest = urn, name[len(urn) + 1:]
            break
    attribute_name, _, sub_name = rest.partition(".")
    attribute = _find(SCHEMAS[schema][2], attribute_name)
    if attribute is None or attribute.returned == "never":
        return None
    sub = attribute.sub(sub_name) if sub_name else None
    if sub_name and sub is None:
        return None
    return Selected(schema, attribute, sub)


def _container(body: dict, selected: Selected, core: str) -> dict | None:
    return body if selected.schema == core else body.get(selected.schema)


def _copy(body: dict, shown: dict, selected: Selected, core: str) -> None:
    source = _container(body, selected, core)
    if source is None:
        return
    if selected.attribute is None:
        shown[selected.schema] = source
        return
    name = selected.attribute.name
    if name not in source:
        return
    target = shown if selected.schema == core else shown.setdefault(selected.schema, {})
    value, have = source[name], target.get(name)
    if selected.sub is None or (have is not None and have is value):
        target[name] = value  # the whole attribute (asked for, or already whole)
        return
    key = selected.sub.name
    if isinstance(value, list):  # each entry with the sub-attributes asked for so far
        have = have or [{} for _item in value]
        target[name] = [{**kept, **({key: item[key]} if key in item else {})}
                        for kept, item in zip(have, value, strict=True)]
    elif isinstance(value, dict) and key in value:
        target[name] = {**(have or {}), key: value[key]}


def _drop(shown: dict, selected: Selected, core: str) -> None:
    source = _container(shown, selected, core)
    if source is None:
        return
    if selected.attribute is None:
        shown.pop(selected.schema, None)
        return
    if selected.schema != core:
        source = shown[selected.schema] = dict(source)
    name = selected.attribute.name
    if selected.sub is None:
        source.pop(name, None)
    elif isinstance(source.get(name), list):
        source[name] = [{k: v for k, v in item.items() if k != selected.sub.name}
                        for item in source[name]]
    elif isinstance(source.get(name), dict):
        source[name] = {k: v for k, v in source[name].items() if k != selected.sub.name}
    _tidy(source, name)
    if selected.schema != core and not source:
        shown.pop(selected.schema, None)


def _tidy(container: dict, name: str) -> None:
    value = container.get(name)
    if isinstance(value, list):
        value = container[name] = [item for item in value if item]
    if value in ({}, []):
        container.pop(name, None)
