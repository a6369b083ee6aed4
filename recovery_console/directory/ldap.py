"""Reading people from an LDAP directory (OpenLDAP, Active Directory).

``read(config)`` is a full pass, ``read(config, since=watermark)`` an
incremental one; both answer a ``Read``: every record, the id of every entry
seen, and the watermark to give the next incremental read. A record is a
plain dict, attribute -> list of str, the mapping's input like a CSV line:
each configured attribute (``[]`` when the entry has none), ``"dn"``, the
stable id (``entryUUID`` / ``objectGUID``, as a string) and the groups the
entry belongs to (``memberOf`` as the server keeps it, or worked out from
the groups themselves, nesting included). DN-valued attributes such as
``manager`` are given as the referenced entry's stable id, the reference
the mapping resolves.

All or nothing: the reader keeps what it reads until the last page has
come, and a server that is down, slow, refuses the bind, stops at a size or
time limit, or sends a referral raises ``DirectoryUnavailable`` with a
stable ``reason``; the caller never sees a part of the directory (a part
taken for the whole would deprovision everyone missing from it).

Deletions: an entry deleted at the source simply stops being returned. A
full pass lists every id it saw (``Read.ids``); ``deleted(previous, read)``
is what the console knew and the directory no longer has. Incremental reads
cannot see deletions; the periodic full pass does.

ldap3 rather than python-ldap: pure Python (no libldap / libsasl headers or
compiler to build it), the Simple Paged Results control and AD's ranged
attribute retrieval built in.
"""

from __future__ import annotations

import base64
import hashlib
import math
import os
import re
import ssl
import struct
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import ldap3
from ldap3.core import exceptions as ldap_errors
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import parse_dn

PAGED_RESULTS = "1.2.840.113556.1.4.319"
GROUPS_MARK = ";groups="
GENERALIZED_TIME = re.compile(r"\d{14}(\.\d{1,6})?Z")
DN = "dn"


class DirectoryUnavailable(Exception):
    """The directory could not be read, whole. ``reason`` is stable (for the
    run's record and alerts); ``message`` says what to check."""

    REASONS = {
        "no_credentials": "the bind password's environment variable is not set",
        "unreachable": "no connection could be opened",
        "timeout": "the server did not answer in time",
        "connection_lost": "the server closed the connection during the read",
        "tls": "TLS could not be set up",
        "bind_refused": "the server refused the bind DN and password",
        "size_limit": "the server stopped at its size limit",
        "time_limit": "the server stopped at its time limit",
        "referral": "part of the tree is held by another server (referral)",
        "no_such_base": "the base DN does not exist on the server",
        "bad_filter": "the search filter is not valid LDAP",
        "no_watermark": "the server gave no value to resume the incremental read from",
        "refused": "the server refused the search",
    }

    def __init__(self, reason: str, message: str) -> None:
        if reason not in self.REASONS:
            raise ValueError(f"unknown reason {reason!r}")
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class LdapConfig:
    url: str  # ldap://host:389 or ldaps://host:636
    bind_dn: str
    password_env: str  # the NAME of the environment variable holding the password
    base_dn: str
    filter: str = "(objectClass=inetOrgPerson)"
    attributes: tuple[str, ...] = ("uid", "cn", "mail", "telephoneNumber",
                                   "departmentNumber", "employeeType", "manager")
    id_attribute: str = "entryUUID"  # objectGUID for Active Directory
    watermark_attribute: str = "modifyTimestamp"  # uSNChanged for Active Directory
    start_tls: bool = False
    ca_file: str = ""  # CA bundle for ldaps:// or StartTLS; the system's when empty
    page_size: int = 500  # AD's MaxPageSize is 1000
    connect_timeout: float = 10.0  # seconds to open the connection
    receive_timeout: int = 60  # seconds to wait for any one answer (whole seconds: ldap3)
    time_limit: int = 0  # seconds the server may spend on one search page (0: its own)
    max_seconds: float = 1800.0  # the whole read, checked between pages (a server trickling)
    membership: str = "auto"  # "memberOf", "groups" (read the groups), "auto", "" (none)
    groups_key: str = "memberOf"  # the record key the membership is given under
    group_base_dn: str = ""  # groups mode: where the groups are (base_dn when empty)
    group_filter: str = "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)" \
                        "(objectClass=group))"
    member_attribute: str = "member"
    # Groups whose membership the mapping reads (names or DNs; every group
    # when empty): an incremental read after one of them changed reads all.
    watched_groups: tuple[str, ...] = ()
    dn_references: tuple[str, ...] = ("manager",)  # DN values given as the entry's id
    ignore_references: bool = False  # continuation references skipped (see docs)

    @property
    def usn_watermark(self) -> bool:
        return self.watermark_attribute.lower() == "usnchanged"


@dataclass
class Read:
    records: list[dict[str, list[str]]]
    ids: set[str]  # the id of every entry read
    full: bool
    watermark: str  # opaque: give it as ``since`` to the next incremental read
    membership: str  # how group membership was read: memberOf, groups or ""
    seconds: float
    warnings: list[str] = field(default_factory=list)


def deleted(previous_ids: set[str], read: Read) -> set[str]:
    """Ids the console had from this source that a full pass no longer saw."""
    if not read.full:
        raise ValueError("only a full pass shows deletions")
    return set(previous_ids) - read.ids


def read(config: LdapConfig, since: str = "", *,
         environ: Mapping[str, str] = os.environ) -> Read:
    """Every entry the config's filter matches (``since`` empty), or those
    changed since the watermark of an earlier read."""
    started = time.monotonic()
    with _Session(config, environ, deadline=started + config.max_seconds) as session:
        return session.read(since, started)


# --- the session -----------------------------------------------------------------

class _Session:
    def __init__(self, config: LdapConfig, environ: Mapping[str, str], deadline: float) -> None:
        self.config = config
        self.deadline = deadline
        password = environ.get(config.password_env, "") if config.password_env else ""
        if not password:
            raise DirectoryUnavailable(
                "no_credentials", f"set the environment variable {config.password_env or '(none)'}"
                " to the bind password")
        with _translated(config):
            tls = None
            if config.start_tls or config.url.lower().startswith("ldaps://"):
                tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=config.ca_file or None)
            server = ldap3.Server(config.url, get_info=ldap3.NONE, tls=tls,
                                  connect_timeout=config.connect_timeout)
            self.connection = ldap3.Connection(
                server, user=config.bind_dn, password=password, read_only=True,
                receive_timeout=max(1, math.ceil(config.receive_timeout)), auto_referrals=False,
                auto_range=True, raise_exceptions=False, return_empty_attributes=False)

    def __enter__(self) -> _Session:
        try:
            self._open()
        except BaseException:
            self.__exit__()  # a refused bind still has its socket open
            raise
        return self

    def _open(self) -> None:
        with _translated(self.config):
            self.connection.open()
            if self.config.start_tls and not self.connection.start_tls():
                raise DirectoryUnavailable("tls", f"StartTLS refused: {_said(self.connection)}")
            if not self.connection.bind():
                result = self.connection.result or {}
                if result.get("result") == 49:
                    raise DirectoryUnavailable(
                        "bind_refused", f"{self.config.bind_dn}: {_said(self.connection)}")
                _raise_for(result, self.config.base_dn)

    def __exit__(self, *exc) -> None:
        try:
            self.connection.unbind()
        except (ldap_errors.LDAPException, OSError):
            pass  # closing a connection that already failed

    # --- reading ---

    def read(self, since: str, started: float) -> Read:
        config = self.config
        point, groups_before = _split(config, since)
        full = not point
        with _translated(config):
            usn_start = self._highest_usn() if config.usn_watermark else None
            membership = self._membership()
            groups_now = self._groups_fingerprint() if membership else ""
            warnings = []
            if not full and groups_now != groups_before:
                full = True
                warnings.append("the watched groups' membership changed: read in full")
            requested = [*config.attributes, config.id_attribute, config.watermark_attribute]
            if membership == "memberOf":
                requested.append(config.groups_key)
            names = {name.lower(): name for name in requested if name.lower() != DN}
            search_filter = config.filter if full else _since(config, point)
            records, newest = [], None
            for dn, raw in self._paged(config.base_dn, search_filter, list(names.values())):
                record = _record(dn, raw, config, names)
                if not record[config.id_attribute]:
                    raise DirectoryUnavailable(
                        "refused", f"{dn} has no {config.id_attribute}: is it the id attribute?")
                newest = _newer(newest, record.get(config.watermark_attribute, []), config)
                records.append(record)
            if membership == "groups":
                self._add_groups(records)
            warnings += self._resolve_references(records)
        seconds = time.monotonic() - started
        watermark = _watermark(config, point, newest, usn_start, seconds)
        return Read(records=records, ids={r[config.id_attribute][0] for r in records},
                    full=full, membership=membership, seconds=seconds, warnings=warnings,
                    watermark=f"{watermark}{GROUPS_MARK}{groups_now}" if watermark else "")

    def _paged(self, base: str, search_filter: str, attributes: list[str],
               scope=ldap3.SUBTREE) -> Iterator[tuple[str, dict[str, list[bytes]]]]:
        """Every entry, page after page (the Simple Paged Results control,
        which OpenLDAP and Active Directory both honour)."""
        cookie = None
        while True:
            self.connection.search(
                base, search_filter, search_scope=scope, attributes=attributes,
                paged_size=self.config.page_size, paged_cookie=cookie,
                time_limit=self.config.time_limit, size_limit=0)
            result = self.connection.result or {}
            _raise_for(result, base)
            for item in self.connection.response or ():
                if item.get("type") == "searchResRef":
                    if self.config.ignore_references:
                        continue
                    raise DirectoryUnavailable(
                        "referral", f"the search under {base} met a reference to "
                        f"{', '.join(item.get('uri') or [])}")
                if item.get("type") == "searchResEntry":
                    yield item["dn"], item["raw_attributes"]
            control = (result.get("controls") or {}).get(PAGED_RESULTS) or {}
            cookie = (control.get("value") or {}).get("cookie")
            if not cookie:
                return
            if time.monotonic() > self.deadline:
                raise DirectoryUnavailable(
                    "timeout", f"the read took longer than {self.config.max_seconds:g} s")

    def _groups_fingerprint(self) -> str:
        """A digest of the watched groups' change stamps, taken before the
        people are read. Adding or removing a member changes the group, not
        the person (memberOf is kept by the server and leaves the person's
        modifyTimestamp / uSNChanged alone), so an incremental read that
        finds the digest changed reads everything instead."""
        config = self.config
        stamps = [config.watermark_attribute] + ([] if config.usn_watermark else ["entryCSN"])
        digest = hashlib.sha256()
        found = []
        for dn, raw in self._paged(config.group_base_dn or config.base_dn, config.group_filter,
                                   stamps):
            if config.watched_groups and not any(_same_group(dn, wanted)
                                                 for wanted in config.watched_groups):
                continue
            by_name = _by_name(raw)
            found.append((_norm(dn), *(sorted(v.decode("utf-8", "replace") for v in
                                              by_name.get(name.lower(), []))
                                       for name in stamps)))
        for item in sorted(found):
            digest.update(repr(item).encode())
        return digest.hexdigest()[:16]

    def _base_entry(self, dn: str, attributes: list[str]) -> dict[str, list[bytes]] | None:
        self.connection.search(dn, "(objectClass=*)", search_scope=ldap3.BASE,
                               attributes=attributes, time_limit=self.config.time_limit)
        result = self.connection.result or {}
        if result.get("result") == 32:
            return None
        _raise_for(result, dn)
        for item in self.connection.response or ():
            if item.get("type") == "searchResEntry":
                return item["raw_attributes"]
        return None

    def _highest_usn(self) -> int:
        """Active Directory: the DC's highest update number before the read;
        changes made during the read come again next time (harmless)."""
        root = self._base_entry("", ["highestCommittedUSN"]) or {}
        values = _by_name(root).get("highestcommittedusn")
        if not values:
            raise DirectoryUnavailable(
                "no_watermark", "the root DSE has no highestCommittedUSN: uSNChanged is an "
                "Active Directory attribute (use modifyTimestamp elsewhere)")
        return int(values[0])

    def _membership(self) -> str:
        wanted = self.config.membership
        if wanted != "auto":
            return wanted
        return "memberOf" if self._schema_has("memberOf") else "groups"

    def _schema_has(self, attribute: str) -> bool:
        """The memberOf overlay (or AD) defines the attribute in the schema."""
        root = _by_name(self._base_entry("", ["subschemaSubentry"]) or {})
        subschema = (root.get("subschemasubentry") or [b""])[0].decode()
        if not subschema:
            return False
        schema = _by_name(self._base_entry(subschema, ["attributeTypes"]) or {})
        needle = f"'{attribute.lower()}'"
        return any(needle in value.decode("utf-8", "replace").lower()
                   for value in schema.get("attributetypes", []))

    def _add_groups(self, records: list[dict[str, list[str]]]) -> None:
        """Each record's groups, direct and through nested groups."""
        config = self.config
        parents: dict[str, set[str]] = {}  # member DN (normalised) -> group DNs (normalised)
        shown: dict[str, str] = {}  # normalised group DN -> as the server wrote it
        member_key = config.member_attribute.lower()
        for dn, raw in self._paged(config.group_base_dn or config.base_dn, config.group_filter,
                                   [config.member_attribute]):
            group = _norm(dn)
            shown[group] = dn
            for member in _by_name(raw).get(member_key, []):
                parents.setdefault(_norm(member.decode()), set()).add(group)
        for record in records:
            found, todo = set(), list(parents.get(_norm(record[DN][0]), ()))
            while todo:
                group = todo.pop()
                if group not in found:
                    found.add(group)
                    todo.extend(parents.get(group, ()))
            record[config.groups_key] = sorted(shown[g] for g in found)

    def _resolve_references(self, records: list[dict[str, list[str]]]) -> list[str]:
        """DN values (manager ...) given as the referenced entry's id: the
        entries read know theirs; others (an incremental read's managers)
        are looked up one by one. A DN that names no entry is dropped."""
        config = self.config
        keys = [name for name in config.dn_references if name in config.attributes]
        if not keys:
            return []
        ids = {_norm(r[DN][0]): r[config.id_attribute][0] for r in records}
        warnings = []
        for record in records:
            for key in keys:
                resolved = []
                for value in record.get(key, []):
                    norm = _norm(value)
                    if norm not in ids:
                        raw = self._base_entry(value, [config.id_attribute])
                        found = _values(config.id_attribute,
                                        _by_name(raw or {}).get(config.id_attribute.lower(), []))
                        ids[norm] = found[0] if found else ""
                    if ids[norm]:
                        resolved.append(ids[norm])
                    else:
                        warnings.append(f"{record[DN][0]}: {key} {value} names no entry")
                record[key] = resolved
        return warnings


# --- helpers ------------------------------------------------------------------------

class _translated:
    """ldap3's exceptions as DirectoryUnavailable (the one error callers see)."""

    def __init__(self, config: LdapConfig) -> None:
        self.config = config

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> bool:
        if error is None or isinstance(error, DirectoryUnavailable):
            return False
        where = self.config.url
        if isinstance(error, ldap_errors.LDAPSocketOpenError):
            reason = "tls" if "ssl" in str(error).lower() else "unreachable"
            raise DirectoryUnavailable(reason, f"{where}: {error}") from error
        if isinstance(error, ldap_errors.LDAPStartTLSError | ldap_errors.LDAPSSLConfigurationError
                      | ldap_errors.LDAPCertificateError | ssl.SSLError):
            raise DirectoryUnavailable("tls", f"{where}: {error}") from error
        if isinstance(error, ldap_errors.LDAPSocketReceiveError | TimeoutError) and \
                "timed out" in str(error).lower():
            raise DirectoryUnavailable(
                "timeout", f"{where} sent no answer within {self.config.receive_timeout:g} s"
            ) from error
        if isinstance(error, ldap_errors.LDAPCommunicationError | OSError):
            raise DirectoryUnavailable("connection_lost", f"{where}: {error}") from error
        if isinstance(error, ldap_errors.LDAPInvalidFilterError | ldap_errors.LDAPObjectClassError):
            raise DirectoryUnavailable("bad_filter", str(error)) from error
        if isinstance(error, ldap_errors.LDAPException):
            raise DirectoryUnavailable("refused", f"{where}: {error}") from error
        return False


def _raise_for(result: dict, base: str) -> None:
    code = result.get("result", 0)
    if code == 0:
        return
    said = f"{result.get('description', '')} {result.get('message', '')}".strip()
    if code == 4:
        raise DirectoryUnavailable("size_limit", f"{said}; raise the bind DN's size limit "
                                   "(OpenLDAP limits size.prtotal, AD MaxResultSetSize)")
    if code == 11:
        raise DirectoryUnavailable("size_limit", f"{said}; the page size is above the "
                                   "server's limit for this bind DN: lower it")
    if code == 3:
        raise DirectoryUnavailable("time_limit", said)
    if code == 10:
        raise DirectoryUnavailable("referral", f"{base} is held by "
                                   f"{', '.join(result.get('referrals') or [])}")
    if code == 32:
        raise DirectoryUnavailable("no_such_base", f"{base}: {said}")
    if code == 49:
        raise DirectoryUnavailable("bind_refused", said)
    if code in (51, 52, 80) or result.get("type") == "extendedResp":
        raise DirectoryUnavailable("timeout" if code == 51 else "refused", said)
    raise DirectoryUnavailable("refused", f"{base}: {said} (result {code})")


def _said(connection: ldap3.Connection) -> str:
    result = connection.result or {}
    return f"{result.get('description', '')} {result.get('message', '')}".strip()


def _by_name(raw: Mapping[str, list]) -> dict[str, list]:
    """Attribute names in lower case, without options (``member;range=0-*``)."""
    out: dict[str, list] = {}
    for name, values in raw.items():
        out.setdefault(name.split(";", 1)[0].lower(), []).extend(values)
    return out


def _record(dn: str, raw: Mapping[str, list[bytes]], config: LdapConfig,
            names: dict[str, str]) -> dict[str, list[str]]:
    by_name = _by_name(raw)
    record = {DN: [dn]}
    for lower, name in names.items():
        record[name] = _values(name, by_name.get(lower, []))
    return record


def _values(name: str, values: list[bytes]) -> list[str]:
    lower = name.lower()
    if lower == "objectguid":
        return [str(uuid.UUID(bytes_le=bytes(v))) for v in values if len(v) == 16]
    if lower == "objectsid":
        return [_sid(bytes(v)) for v in values]
    out = []
    for value in values:
        try:
            out.append(bytes(value).decode("utf-8"))
        except UnicodeDecodeError:
            out.append("base64:" + base64.b64encode(bytes(value)).decode())
    return out


def _sid(raw: bytes) -> str:
    """S-1-5-21-... from AD's binary objectSid."""
    if len(raw) < 8:
        return ""
    count = raw[1]
    authority = int.from_bytes(raw[2:8], "big")
    subs = struct.unpack(f"<{count}I", raw[8:8 + 4 * count])
    return "-".join(["S", str(raw[0]), str(authority), *map(str, subs)])


def _same_group(dn: str, wanted: str) -> bool:
    """``wanted`` is a group's DN or its name (the first RDN's value)."""
    if "=" in wanted:
        return _norm(dn) == _norm(wanted)
    first = _norm(dn).split(",", 1)[0]
    return first.split("=", 1)[-1] == wanted.strip().lower()


def _norm(dn: str) -> str:
    """A DN compared the way LDAP does for our purposes (case, spaces)."""
    if not any(c in dn for c in '\\"+#<>;'):  # the common case, without parsing
        return ",".join("=".join(side.strip() for side in rdn.split("=", 1))
                        for rdn in dn.lower().split(","))
    try:
        return ",".join(f"{a.strip().lower()}={v.strip().lower()}" for a, v, _ in parse_dn(dn))
    except ldap_errors.LDAPException:
        return dn.strip().lower()


# --- watermarks -----------------------------------------------------------------------

def _split(config: LdapConfig, since: str) -> tuple[str, str]:
    """An earlier read's watermark: (where to resume, groups' digest then)."""
    point, _, groups = since.strip().partition(GROUPS_MARK)
    if point:
        _since(config, point)  # refuses anything but a number / generalized time
    return point, groups


def _since(config: LdapConfig, since: str) -> str:
    value = since.strip()
    if config.usn_watermark:
        if not value.isdigit():
            raise ValueError(f"an uSNChanged watermark is a number, not {since!r}")
    else:
        _parse_time(value)  # raises ValueError on anything but a generalized time
    return (f"(&{config.filter}({escape_filter_chars(config.watermark_attribute)}"
            f">={escape_filter_chars(value)}))")


def _parse_time(value: str) -> datetime:
    """Generalized time as OpenLDAP (20261129233205Z) and AD (20261129233205.0Z) write it."""
    if not GENERALIZED_TIME.fullmatch(value.strip()):
        raise ValueError(f"not a generalized time: {value!r}")
    return datetime.strptime(value.strip()[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def _newer(newest, values: list[str], config: LdapConfig):
    """The newest of ``newest`` and ``values``: USNs as numbers, times as
    their 14 digits (which order as text)."""
    for value in values:
        if config.usn_watermark:
            point = int(value) if value.isdigit() else None
        else:
            point = value[:14] if value[:14].isdigit() and len(value) >= 15 else None
        if point is not None and (newest is None or point > newest):
            newest = point
    return newest


def _watermark(config: LdapConfig, since: str, newest, usn_start: int | None,
               seconds: float) -> str:
    """Where the next incremental read starts (it asks for ``>=`` this).

    AD: the highest USN before this read, plus one. OpenLDAP keeps no such
    counter a reader can ask for, and the server's clock is not ours, so:
    the newest modifyTimestamp seen, less this read's duration and a second.
    An entry changed during the read but behind the pages already read has a
    timestamp at or after the read's start on the server's clock, and so no
    earlier than that; a few entries come twice, none is missed."""
    if config.usn_watermark:
        return str(usn_start + 1) if usn_start is not None else since
    if newest is None:
        return since
    start = _parse_time(newest + "Z") - timedelta(seconds=math.ceil(seconds) + 1)
    if since:
        start = max(start, _parse_time(since))
    return start.strftime("%Y%m%d%H%M%SZ")
