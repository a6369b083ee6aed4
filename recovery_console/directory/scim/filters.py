"""A SCIM ``filter`` (RFC 7644 §3.4.2.2) as a query on ``ScimUser``.

scim2-filter-parser parses; the translation to a ``Q`` is ours because its
own transpiler drops a comparison on an attribute it does not know, which
would widen ``foo eq "x" and userName eq "y"`` to every user. Here an
attribute or operator this service does not filter on refuses the request
(400 ``invalidFilter``). ``userName`` compares on its canonical form (the
indexed ``user_name_key``), so ``eq`` is case-insensitive as RFC 7643 says.
"""

from __future__ import annotations

import uuid

from django.db.models import Q
from scim2_filter_parser import ast
from scim2_filter_parser.lexer import SCIMLexer
from scim2_filter_parser.parser import SCIMParser

from accounts.identifiers import canonical

from .schema import CORE, ScimError

STRING_OPERATORS = {"eq": "exact", "co": "contains", "sw": "startswith", "ew": "endswith"}

# What each resource filters on: attribute (lower case) -> (field, how it compares).
# "key": canonical form, so case-insensitive; "exact": case-exact; "uuid": ids;
# "text": a JSON value, case-insensitive; "boolean": a boolean column.
USER_ATTRIBUTES = {"username": ("user_name_key", "key"), "externalid": ("external_id", "exact"),
                   "id": ("scim_id", "uuid"), "displayname": ("resource__displayName", "text"),
                   "active": ("active", "boolean")}
GROUP_ATTRIBUTES = {"displayname": ("display_key", "key"),
                    "externalid": ("external_id", "exact"), "id": ("scim_id", "uuid")}


def _bad(detail: str) -> ScimError:
    return ScimError(400, detail, "invalidFilter")


def to_query(text: str, attributes: dict[str, tuple[str, str]] = USER_ATTRIBUTES,
             core: str = CORE) -> Q:
    """The resources ``text`` selects; ScimError (invalidFilter) when it is
    malformed or asks about what this service does not filter on."""
    if len(text) > 1000:
        raise _bad("The filter is longer than 1000 characters.")
    try:
        tree = SCIMParser().parse(SCIMLexer().tokenize(text))
    except Exception as error:  # the parser's own errors (sly): any malformed filter  # noqa: BLE001
        raise _bad(f"The filter could not be read: {error}.") from None
    if tree is None:
        raise _bad("The filter is empty.")
    return _node(tree, attributes, core)


def _node(node, attributes: dict, core: str) -> Q:
    if isinstance(node, ast.Filter):
        if node.namespace is not None:
            raise _bad("Filters on a multi-valued attribute's entries are not supported.")
        query = _node(node.expr, attributes, core)
        return ~query if node.negated else query
    if isinstance(node, ast.LogExpr):
        left, right = _node(node.expr1, attributes, core), _node(node.expr2, attributes, core)
        return left & right if node.op.lower() == "and" else left | right
    if isinstance(node, ast.AttrExpr):
        return _comparison(node, attributes, core)
    raise _bad("The filter could not be read.")


def _comparison(node: ast.AttrExpr, attributes: dict, core: str) -> Q:
    path = node.attr_path
    known = ", ".join(sorted(attributes))
    if not isinstance(path.attr_name, str) or path.sub_attr is not None or \
            (path.uri and path.uri.lower() != core.lower()) or \
            path.attr_name.lower() not in attributes:
        raise _bad(f"This service filters on {known} only (any letter case).")
    field, how = attributes[path.attr_name.lower()]
    op = node.value.lower()
    value = node.comp_value.value if node.comp_value is not None else None
    if op == "pr":
        return ~Q(**{field: ""}) if how == "exact" else \
            Q(**{f"{field}__isnull": False}) if how == "text" else Q()
    negate = op == "ne"
    op = "eq" if negate else op
    if how == "boolean":
        if op != "eq" or value not in ("true", "false"):
            raise _bad(f"{path.attr_name} compares with eq or ne and true or false.")
        query = Q(**{field: value == "true"})
    elif op not in STRING_OPERATORS or not isinstance(value, str):
        raise _bad(f"{path.attr_name} {node.value} is not supported: use eq, ne, co, sw, ew "
                   "or pr with a string.")
    elif how == "uuid":
        if op != "eq":
            raise _bad("id compares with eq or ne.")
        try:
            query = Q(**{field: uuid.UUID(value)})
        except ValueError:
            query = Q(pk__in=[])  # not an id this service gives: nothing has it
    elif how == "key":
        query = Q(**{f"{field}__{STRING_OPERATORS[op]}": canonical(value)})
    elif how == "text":
        query = Q(**{f"{field}__i{STRING_OPERATORS[op]}": value})
    else:
        query = Q(**{f"{field}__{STRING_OPERATORS[op]}": value})
    return ~query if negate else query
