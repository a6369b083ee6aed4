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


def _bad(detail: str) -> ScimError:
    return ScimError(400, detail, "invalidFilter")


def user_filter(text: str) -> Q:
    """The users ``text`` selects; ScimError (invalidFilter) when it is
    malformed or asks about what this service does not filter on."""
    if len(text) > 1000:
        raise _bad("The filter is longer than 1000 characters.")
    try:
        tree = SCIMParser().parse(SCIMLexer().tokenize(text))
    except Exception as error:  # the parser's own errors (sly): any malformed filter  # noqa: BLE001
        raise _bad(f"The filter could not be read: {error}.") from None
    if tree is None:
        raise _bad("The filter is empty.")
    return _node(tree)


def _node(node) -> Q:
    if isinstance(node, ast.Filter):
        if node.namespace is not None:
            raise _bad("Filters on a multi-valued attribute's entries are not supported.")
        query = _node(node.expr)
        return ~query if node.negated else query
    if isinstance(node, ast.LogExpr):
        left, right = _node(node.expr1), _node(node.expr2)
        return left & right if node.op.lower() == "and" else left | right
    if isinstance(node, ast.AttrExpr):
        return _comparison(node)
    raise _bad("The filter could not be read.")


def _comparison(node: ast.AttrExpr) -> Q:
    path = node.attr_path
    if not isinstance(path.attr_name, str) or path.sub_attr is not None or \
            (path.uri and path.uri.lower() != CORE.lower()):
        raise _bad("Filters on userName, externalId, id, displayName and active only.")
    name, op = path.attr_name.lower(), node.value.lower()
    value = node.comp_value.value if node.comp_value is not None else None
    if op == "pr":
        present = {"username": Q(), "id": Q(), "externalid": ~Q(external_id=""),
                   "displayname": Q(resource__displayName__isnull=False), "active": Q()}
        if name not in present:
            _unknown(name)
        return present[name]
    negate = op == "ne"
    op = "eq" if negate else op
    if name == "active":
        if op != "eq" or value not in ("true", "false"):
            raise _bad("active compares with eq or ne and true or false.")
        query = Q(resource__active=value == "true")
    elif op not in STRING_OPERATORS or not isinstance(value, str):
        raise _bad(f"{path.attr_name} {node.value} is not supported: use eq, ne, co, sw, ew "
                   "or pr with a string.")
    elif name == "username":
        query = Q(user_name_key=canonical(value)) if op == "eq" else \
            Q(**{f"user_name_key__{STRING_OPERATORS[op]}": canonical(value)})
    elif name == "externalid":
        query = Q(**{f"external_id__{STRING_OPERATORS[op]}": value})
    elif name == "id":
        if op != "eq":
            raise _bad("id compares with eq or ne.")
        try:
            query = Q(scim_id=uuid.UUID(value))
        except ValueError:
            query = Q(pk__in=[])  # not an id this service gives: no user has it
    elif name == "displayname":
        query = Q(**{f"resource__displayName__i{STRING_OPERATORS[op]}": value})
    else:
        _unknown(name)
    return ~query if negate else query


def _unknown(name: str):
    raise _bad(f"{name!r} is not an attribute this service filters on "
               "(userName, externalId, id, displayName, active).")
