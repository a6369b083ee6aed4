"""From a source's records to the changes the console needs: pure functions.

``desired_states(records, mapping)`` reads each record (a dict of the
source's attributes, whatever the source) through the mapping and says what
identity the directory wants, or why the record cannot be used.
``plan(desired, console, complete=...)`` compares that with the console's
identities (``console.snapshot``, plain data) and lists the changes. Neither
reads nor writes the database: CSV, LDAP and SCIM give the same answer for
the same records, and the tests need no database to check the rules.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from collections.abc import Mapping as MappingType
from dataclasses import asdict, dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from accounts.identifiers import (
    canonical,
    validate_identifier,
    validate_one_line_identifier,
)
from accounts.validators import validate_no_control_characters

# A record carrying this key set to True was deleted at the source (SCIM
# DELETE, an LDAP tombstone): its identity is deactivated.
DELETED = "__deleted__"

KINDS = ("employee", "contractor", "partner", "service_account")
LEVELS = ("low", "medium", "high")
LIMITS = {"directory_id": 64, "display_name": 150, "department": 100, "directory_phone": 32,
          "email": 254, "phone": 254}
CHANNEL_KINDS = ("email", "phone")
RELATIONS = ("manager", "sponsor", "owner")


@dataclass(frozen=True)
class Rule:
    field: str  # kind, privileged, data_sensitivity
    match_on: str  # group, ou, department, attribute
    value: str
    result: str = ""
    attribute: str = ""


@dataclass(frozen=True)
class Mapping:
    """A source's mapping as data (``DirectorySource.mapping()``). An
    attribute left empty is not managed: the field is left as it is."""

    identifier: str
    display_name: str
    external_id: str = ""
    department: str = ""
    groups: str = ""
    dn: str = ""
    manager: str = ""
    sponsor: str = ""
    owner: str = ""
    email: str = ""
    phone: str = ""
    callback_phone: str = ""
    enabled: str = ""
    disabled_values: frozenset[str] = frozenset({"false", "0", "no", "disabled", "inactive"})
    disabled_flag: int | None = None
    separator: str = ";"
    default_kind: str = "employee"
    rules: tuple[Rule, ...] = ()

    @property
    def scalar_fields(self) -> tuple[str, ...]:
        """The identity's own fields this mapping decides."""
        optional = {"department": self.department, "directory_phone": self.callback_phone}
        return ("directory_id", "display_name", "kind", "privileged", "data_sensitivity",
                *(name for name, attr in optional.items() if attr))

    @property
    def relations(self) -> tuple[str, ...]:
        return tuple(name for name in RELATIONS if getattr(self, name))

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(kind for kind in CHANNEL_KINDS if getattr(self, kind))


@dataclass
class Desired:
    """The identity one record asks for."""

    line: int  # the record's position (1-based; a CSV adds its header line)
    external_id: str
    directory_id: str
    display_name: str
    kind: str
    privileged: bool
    data_sensitivity: str
    department: str
    directory_phone: str
    active: bool
    deleted: bool
    email: str
    phone: str
    manager: str  # references: another record's source id or identifier
    sponsor: str
    owner: str

    @property
    def key(self) -> str:
        return canonical(self.directory_id)


@dataclass(frozen=True)
class Problem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"Record {self.line}: {self.message}" if self.line else self.message


def required_attributes(mapping: Mapping) -> list[str]:
    """The attributes the mapping reads. A file without one of them would
    read as "empty" for everyone (every channel removed, every manager
    unset), so a CSV must have a column for each, even an empty one."""
    names = [mapping.identifier, mapping.display_name, mapping.external_id,
             mapping.department, mapping.manager, mapping.sponsor, mapping.owner,
             mapping.email, mapping.phone, mapping.callback_phone, mapping.enabled]
    if any(rule.match_on == "group" for rule in mapping.rules):
        names.append(mapping.groups)
    if any(rule.match_on == "ou" for rule in mapping.rules):
        names.append(mapping.dn)
    names += [rule.attribute for rule in mapping.rules if rule.match_on == "attribute"]
    return list(dict.fromkeys(name for name in names if name))


# --- reading records -----------------------------------------------------------

def _values(record: MappingType, attribute: str, separator: str) -> list[str]:
    """Every value of a (possibly multi-valued) attribute, as stripped strings."""
    if not attribute:
        return []
    raw = record.get(attribute)
    if raw is None:
        return []
    if isinstance(raw, list | tuple):
        items = raw
    elif isinstance(raw, str) and separator and separator in raw:
        items = raw.split(separator)
    else:
        items = [raw]
    return [str(item).strip() for item in items if str(item).strip()]


def _value(record: MappingType, attribute: str) -> str:
    if not attribute:
        return ""
    raw = record.get(attribute)
    if isinstance(raw, list | tuple):
        raw = raw[0] if raw else ""
    return "" if raw is None else str(raw).strip()


def _same(a: str, b: str) -> bool:
    return canonical(a.strip()) == canonical(b.strip())


def _in_group(groups: list[str], wanted: str) -> bool:
    """A group given by name matches its DN's first RDN value too
    (``CN=Domain Admins,OU=Groups,...`` is the group ``Domain Admins``)."""
    for group in groups:
        first = group.split(",", 1)[0]
        name = first.split("=", 1)[1] if "=" in first else first
        if _same(group, wanted) or _same(name, wanted):
            return True
    return False


def _in_ou(dn: str, wanted: str) -> bool:
    """``wanted`` is an OU's name (any ``ou=`` part of the DN) or a DN suffix."""
    parts = [canonical(part.strip()) for part in dn.split(",") if part.strip()]
    if "=" in wanted:
        suffix = [canonical(part.strip()) for part in wanted.split(",") if part.strip()]
        return len(suffix) <= len(parts) and parts[len(parts) - len(suffix):] == suffix
    return f"ou={canonical(wanted.strip())}" in parts


def _matches(rule: Rule, record: MappingType, mapping: Mapping, groups: list[str]) -> bool:
    if rule.match_on == "group":
        return _in_group(groups, rule.value)
    if rule.match_on == "ou":
        return _in_ou(_value(record, mapping.dn), rule.value)
    if rule.match_on == "department":
        return _same(_value(record, mapping.department), rule.value)
    return any(_same(v, rule.value) for v in _values(record, rule.attribute, mapping.separator))


def _is_active(record: MappingType, mapping: Mapping) -> bool:
    if not mapping.enabled:
        return True
    value = _value(record, mapping.enabled)
    if mapping.disabled_flag is not None:
        try:
            return not int(value or "0") & mapping.disabled_flag
        except ValueError:
            return True
    return value.lower() not in mapping.disabled_values


def desired_state(record: MappingType, mapping: Mapping, line: int) -> Desired | Problem:
    """The identity ``record`` asks for under ``mapping``, or why it cannot be used."""
    directory_id = _value(record, mapping.identifier)
    if not directory_id:
        return Problem(line, f"the identifier ({mapping.identifier}) is empty.")
    groups = _values(record, mapping.groups, mapping.separator)
    kind, sensitivity, privileged = None, None, False
    for rule in mapping.rules:
        if not _matches(rule, record, mapping, groups):
            continue
        if rule.field == "kind" and kind is None:
            kind = rule.result
        elif rule.field == "data_sensitivity" and sensitivity is None:
            sensitivity = rule.result
        elif rule.field == "privileged":
            privileged = True
    desired = Desired(
        line=line,
        external_id=_value(record, mapping.external_id) if mapping.external_id else directory_id,
        directory_id=directory_id,
        display_name=_value(record, mapping.display_name),
        kind=kind or mapping.default_kind,
        privileged=privileged,
        data_sensitivity=sensitivity or "low",
        department=_value(record, mapping.department),
        directory_phone=_value(record, mapping.callback_phone),
        active=_is_active(record, mapping) and not record.get(DELETED),
        deleted=bool(record.get(DELETED)),
        email=_value(record, mapping.email),
        phone=_value(record, mapping.phone),
        manager=_value(record, mapping.manager),
        sponsor=_value(record, mapping.sponsor),
        owner=_value(record, mapping.owner),
    )
    problem = _check(desired, mapping)
    return Problem(line, f"{directory_id}: {problem}") if problem else desired


def _check(desired: Desired, mapping: Mapping) -> str | None:
    """Why the record's values cannot be stored, or None."""
    if not desired.external_id:
        return f"the source id ({mapping.external_id}) is empty."
    if not desired.display_name and not desired.deleted:
        return f"the display name ({mapping.display_name}) is empty."
    if desired.kind not in KINDS:
        return f"the kind {desired.kind!r} is not one of {', '.join(KINDS)}."
    if desired.data_sensitivity not in LEVELS:
        return f"the sensitivity {desired.data_sensitivity!r} is not one of {', '.join(LEVELS)}."
    for name, limit in LIMITS.items():
        value = getattr(desired, name)
        if len(value) > limit:
            return f"the {name.replace('_', ' ')} is longer than {limit} characters."
        check = {"directory_id": validate_identifier, "email": validate_one_line_identifier,
                 "phone": validate_one_line_identifier}.get(name, validate_no_control_characters)
        try:
            check(value)
        except ValidationError as invalid:
            return f"the {name.replace('_', ' ')}: {invalid.messages[0]}"
    if desired.email:
        try:
            validate_email(desired.email)
        except ValidationError:
            return f"the email {desired.email!r} is not an email address."
    return None


def desired_states(records: Iterable[MappingType], mapping: Mapping, first_line: int = 1,
                   lines: list[int] | None = None) -> tuple[list[Desired], list[Problem]]:
    """Every record read through ``mapping``: the identities wanted, and the
    problems (a record that cannot be used, an identifier or source id given
    twice). Any problem stops the whole run: nothing is applied. Records are
    numbered from ``first_line``, or by ``lines`` (a file's line numbers)."""
    wanted, problems = [], []
    seen_ids: dict[str, int] = {}
    seen_keys: dict[str, int] = {}
    for index, record in enumerate(records):
        line = lines[index] if lines else first_line + index
        result = desired_state(record, mapping, line)
        if isinstance(result, Problem):
            problems.append(result)
            continue
        for seen, value, what in ((seen_keys, result.key, "identifier"),
                                  (seen_ids, result.external_id, "source id")):
            if value in seen:
                problems.append(Problem(line, f"{result.directory_id}: the same {what} as "
                                              f"record {seen[value]}."))
                break
            seen[value] = line
        else:
            wanted.append(result)
    return wanted, problems


# --- comparing with the console ------------------------------------------------

@dataclass
class Channel:
    pk: int
    kind: str
    address: str
    from_directory: bool
    revoked: bool


@dataclass
class Existing:
    """An identity as the console has it (``console.snapshot``)."""

    pk: int
    source_id: int | None
    external_id: str
    directory_id: str
    display_name: str
    kind: str
    privileged: bool
    data_sensitivity: str
    department: str
    directory_phone: str
    is_active: bool
    manager: int | None = None
    sponsor: int | None = None
    owner: int | None = None
    channels: list[Channel] = field(default_factory=list)
    source_name: str = ""

    @property
    def key(self) -> str:
        return canonical(self.directory_id)


@dataclass
class Console:
    """What the plan compares against: the source's identities, and every
    other identity a record names (by identifier, or by reference)."""

    source_id: int
    identities: list[Existing]

    def __post_init__(self):
        self.by_pk = {i.pk: i for i in self.identities}
        self.by_key = {i.key: i for i in self.identities}
        self.by_external = {i.external_id: i for i in self.identities
                            if i.source_id == self.source_id}


@dataclass
class Change:
    """What the run does to one identity. ``action``: create, change,
    deactivate, or unchanged (never shown as a change)."""

    action: str
    directory_id: str
    display_name: str
    external_id: str
    identity: int | None = None
    adopt: bool = False  # typed in the console until now: the source takes it over
    fields: dict[str, list] = field(default_factory=dict)  # name: [old, new]
    relations: dict[str, list] = field(default_factory=dict)  # name: [old pk, new ref]
    channels: list[dict] = field(default_factory=list)  # kind, action, channel, address
    reason: str = ""  # deactivate: disabled, deleted, out_of_scope

    @property
    def is_move(self) -> bool:
        return "kind" in self.fields

    @property
    def touches(self) -> bool:
        """Does the change alter an identity the console already has? (Taking
        over a typed-in identity or channel as it is does not.)"""
        if self.action == "deactivate":
            return True
        return self.action == "change" and bool(
            self.fields or self.relations
            or any(c["action"] != "claim" for c in self.channels))


@dataclass
class Plan:
    changes: list[Change]
    problems: list[Problem]
    warnings: list[Problem]

    def count(self, action: str) -> int:
        return sum(1 for change in self.changes if change.action == action)

    @property
    def shown(self) -> list[Change]:
        return [change for change in self.changes if change.action != "unchanged"]

    @property
    def touched(self) -> int:
        return sum(1 for change in self.changes if change.touches)

    def as_json(self, masked: bool = False) -> dict:
        """The plan as stored with its run and shown in the preview (``masked``:
        channel addresses as staff pages show them)."""
        changes = [asdict(change) for change in self.shown]
        if masked:
            for change in changes:
                for channel in change["channels"]:
                    channel["address"] = mask(channel["kind"], channel["address"])
                    channel["old"] = mask(channel["kind"], channel["old"])
        return {"changes": changes,
                "counts": {action: self.count(action)
                           for action in ("create", "change", "deactivate", "unchanged")},
                "touched": self.touched,
                "adopted": sum(1 for change in self.changes if change.adopt),
                "problems": [str(p) for p in self.problems],
                "warnings": [str(w) for w in self.warnings]}

    @property
    def fingerprint(self) -> str:
        """What a security admin saw: applying refuses if this moved."""
        text = json.dumps(self.as_json(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


def mask(kind: str, address: str) -> str:
    """As ``RecoveryChannel.masked_address`` shows it."""
    if not address:
        return ""
    if kind == "email" and "@" in address:
        local, domain = address.split("@", 1)
        return f"{local[:1]}***@{domain}"
    return f"***{address[-4:]}"


NEW = "new:"  # a relation pointing at an identity this run creates: "new:<source id>"


def plan(desired: list[Desired], console: Console, mapping: Mapping, *,
         complete: bool) -> Plan:
    """The changes that make the console what the records say.

    ``complete``: the records are the whole population of the source (a full
    pass, a CSV file); an identity of the source missing from them is out of
    scope and deactivated. Otherwise (SCIM calls, incremental LDAP) only what
    the records carry changes. An identity typed in the console with the same
    identifier is taken over (adopted); one managed by another source is a
    problem, and any problem stops the run."""
    problems, warnings, changes = [], [], []
    matched = _match(desired, console, problems)
    wanted_by_ref: dict[str, Desired] = {}
    for item in desired:
        wanted_by_ref.setdefault(item.external_id, item)
        wanted_by_ref.setdefault(item.key, item)

    def resolve(ref: str) -> tuple[bool, int | str | None]:
        """(known, pk or NEW ref or None) for a record's reference to another."""
        if not ref:
            return True, None
        target = wanted_by_ref.get(ref) or wanted_by_ref.get(canonical(ref))
        if target is not None and target.external_id in matched:
            existing = matched[target.external_id]
            if existing is None and not target.active:
                return False, None  # disabled at the source and never here: not created
            return True, existing.pk if existing else NEW + target.external_id
        known = console.by_external.get(ref) or console.by_key.get(canonical(ref))
        return (True, known.pk) if known is not None else (False, None)

    for item in desired:
        if item.external_id not in matched:
            continue
        existing = matched[item.external_id]
        if existing is None and not item.active:
            continue  # disabled or deleted at the source, and never here: nothing to do
        change = Change(action="unchanged", directory_id=item.directory_id,
                        display_name=item.display_name or getattr(existing, "display_name", ""),
                        external_id=item.external_id,
                        identity=existing.pk if existing else None,
                        adopt=existing is not None and existing.source_id is None)
        if not item.deleted:
            _compare_fields(change, item, existing, mapping)
            for relation in mapping.relations:
                known, target = resolve(getattr(item, relation))
                if not known:
                    warnings.append(Problem(item.line, f"{item.directory_id}: the {relation} "
                                                       f"{getattr(item, relation)!r} is not "
                                                       "known; left empty."))
                old = getattr(existing, relation) if existing else None
                if target != old and (existing or target is not None):
                    change.relations[relation] = [old, target]
            owner = change.relations["owner"][1] if "owner" in change.relations else \
                existing.owner if existing else None
            if item.kind == "service_account" and owner is None:
                problems.append(Problem(item.line, f"{item.directory_id}: a service account "
                                                   "needs a known owner."))
            _compare_channels(change, item, existing, mapping)
        _decide_action(change, item, existing)
        changes.append(change)
    if complete:
        present = {item.external_id for item in desired}
        for existing in console.identities:
            if existing.source_id == console.source_id and existing.is_active and \
                    existing.external_id not in present:
                changes.append(Change(action="deactivate", directory_id=existing.directory_id,
                                      display_name=existing.display_name,
                                      external_id=existing.external_id, identity=existing.pk,
                                      reason="out_of_scope"))
    return Plan(changes=changes, problems=problems, warnings=warnings)


def _match(desired: list[Desired], console: Console,
           problems: list[Problem]) -> dict[str, Existing | None]:
    """Each usable record's identity in the console (None: to be created),
    by source id first, then by identifier."""
    matched: dict[str, Existing | None] = {}
    for item in desired:
        existing = console.by_external.get(item.external_id)
        holder = console.by_key.get(item.key)
        if existing is None and holder is not None:
            if holder.source_id is None:
                existing = holder
            elif holder.source_id != console.source_id:
                problems.append(Problem(item.line, f"{item.directory_id}: managed by another "
                                                   f"source ({holder.source_name})."))
                continue
            else:
                problems.append(Problem(item.line, f"{item.directory_id}: the source already "
                                                   "has it under another source id."))
                continue
        elif existing is not None and holder is not None and holder.pk != existing.pk:
            problems.append(Problem(item.line, f"{item.directory_id}: another identity already "
                                               "has this identifier."))
            continue
        matched[item.external_id] = existing
    return matched


def _compare_fields(change: Change, item: Desired, existing: Existing | None,
                    mapping: Mapping) -> None:
    for name in mapping.scalar_fields:
        new = getattr(item, name)
        if existing is None:
            if new not in ("", False) and name != "directory_id":
                change.fields[name] = [None, new]
        elif getattr(existing, name) != new:
            change.fields[name] = [getattr(existing, name), new]


def same_address(kind: str, a: str, b: str) -> bool:
    if kind == "phone":
        digits = lambda s: "".join(c for c in s if c.isdigit() or c == "+")  # noqa: E731
        return digits(a) == digits(b)
    return canonical(a.strip()) == canonical(b.strip())


def _compare_channels(change: Change, item: Desired, existing: Existing | None,
                      mapping: Mapping) -> None:
    """Channel ``add`` (a new one), ``change`` (the source's address moved),
    ``remove`` (the source no longer gives one) and ``claim`` (a channel
    typed in the console with the same address becomes the source's, as is)."""
    for kind in mapping.channels:
        new = getattr(item, kind)
        live = [c for c in (existing.channels if existing else []) if c.kind == kind
                and not c.revoked]
        managed = [c for c in live if c.from_directory]
        if new and any(same_address(kind, c.address, new) for c in managed):
            continue
        if new and managed:
            change.channels.append({"kind": kind, "action": "change", "channel": managed[0].pk,
                                    "address": new, "old": managed[0].address})
            managed = managed[1:]
        elif new:
            typed = next((c for c in live if same_address(kind, c.address, new)), None)
            change.channels.append({"kind": kind, "action": "claim" if typed else "add",
                                    "channel": typed.pk if typed else None, "address": new,
                                    "old": ""})
        for channel in managed:
            change.channels.append({"kind": kind, "action": "remove", "channel": channel.pk,
                                    "address": "", "old": channel.address})


def _decide_action(change: Change, item: Desired, existing: Existing | None) -> None:
    if existing is None:
        change.action = "create"  # (a record disabled at the source is never created)
    elif existing.is_active and not item.active:
        change.action, change.reason = "deactivate", "deleted" if item.deleted else "disabled"
    elif not existing.is_active and item.active:
        change.action = "change"
        change.fields["is_active"] = [False, True]
    elif change.fields or change.relations or change.channels or change.adopt:
        change.action = "change"
