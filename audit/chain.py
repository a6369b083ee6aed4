"""The audit hash chain: append under a lock, verify by streaming.

Each entry's hash covers its stored fields and the previous entry's hash, so
editing, deleting or inserting an entry anywhere breaks every hash after it.
Entries are chained at the end of the transaction that wrote them: the
database backend (``audit.backends``) locks the single ChainHead row and links
the transaction's entries as its last statements before COMMIT. Two writers
never chain onto the same predecessor, a rolled-back decision takes its
entries and links with it, and the head is locked only for the moment between
chaining and commit, not for the whole decision.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from auditlog.models import LogEntry
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import CharField, Exists, OuterRef
from django.db.models.expressions import RawSQL

from .models import ChainHead, ChainLink

GENESIS = "0" * 64
HASHED_FIELDS = ("id", "content_type_id", "object_pk", "object_id", "object_repr", "action",
                 "changes", "changes_text", "actor_id", "remote_addr", "timestamp",
                 "additional_data", "cid")
VERIFY_BATCH = 2000
LINKS_PER_INSERT = 500  # 2,000 parameters a statement, well within SQLite's 32,766
# Up to this many links go in with the head's update as one statement; more by COPY.
LINKS_IN_ONE_STATEMENT = 100


def canonical(row: dict) -> bytes:
    """A stable byte form of an entry as stored (the same on every database)."""
    values = {}
    for field in HASHED_FIELDS:
        value = row.get(field)
        if field == "timestamp" and value is not None:
            value = value.astimezone(UTC).isoformat(timespec="microseconds")
        elif field == "remote_addr" and value:
            value = str(ipaddress.ip_address(value))
        values[field] = value
    return json.dumps(values, sort_keys=True, separators=(",", ":"), default=str).encode()


def entry_hash(previous: str, row: dict) -> str:
    return hashlib.sha256(previous.encode() + b"\n" + canonical(row)).hexdigest()


def append(entry_ids: Iterable[int]) -> None:
    """Chain these entries when the transaction that wrote them commits (at
    once, in a transaction of their own, when they were written outside one)."""
    ids = list(entry_ids)
    if not ids:
        return
    connection = transaction.get_connection()
    if not hasattr(connection, "audit_unchained"):
        raise ImproperlyConfigured(
            "The audit chain needs an audit.backends.* database engine (settings.DATABASES).")
    if connection.in_atomic_block:
        connection.audit_unchained.extend(ids)
        return
    with transaction.atomic():
        connection.audit_unchained.extend(ids)


def chain_now(connection, entry_ids: Iterable[int]) -> None:
    """Link these entries (in id order) onto the head, inside the open
    transaction on ``connection``, just before it commits. Plain SQL and reads
    only: no atomic block may open while a commit is under way.

    On PostgreSQL that is two statements for a decision's few entries: the
    entries read back with the head locked in the same query, then the links
    inserted and the head moved in one (a large batch sends its links by
    COPY)."""
    ids = sorted(set(entry_ids))
    head_table, link_table = ChainHead._meta.db_table, ChainLink._meta.db_table
    postgresql = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        # Entries rolled back with a savepoint are simply not found.
        rows = (LogEntry.objects.using(connection.alias).filter(pk__any_of=ids).order_by("pk")
                .values(*HASHED_FIELDS))
        if postgresql:
            head = RawSQL(  # noqa: S611  # nosec B611 - no parameters; the table name is our model's
                f"SELECT sequence || ' ' || entry_hash FROM {head_table} WHERE id = 1 "  # noqa: S608  # nosec B608
                "FOR UPDATE", (), output_field=CharField())
            rows = list(rows.annotate(chain_head=head))
            if not rows:
                return
            found = rows[0]["chain_head"]
            found = (tuple(found.split(" ")) if found
                     else _new_head(cursor, head_table, " FOR UPDATE"))
        else:
            found = _head(cursor, head_table, "") or _new_head(cursor, head_table, "")
        sequence, running = int(found[0]), found[1]
        links = []
        for row in rows:
            row.pop("chain_head", None)
            digest = entry_hash(running, row)
            sequence += 1
            links.append((sequence, row["id"], running, digest))
            running = digest
        if not links:
            return
        if postgresql and len(links) <= LINKS_IN_ONE_STATEMENT:
            cursor.execute(
                f"WITH links AS (INSERT INTO {link_table} "  # noqa: S608  # nosec B608 - table names from our models
                "(sequence, entry_id, previous_hash, entry_hash) "
                "SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::varchar[], %s::varchar[])) "
                f"UPDATE {head_table} SET sequence = %s, entry_hash = %s WHERE id = 1",
                [*(list(column) for column in zip(*links, strict=True)), sequence, running])
            return
        if postgresql:
            with cursor.cursor.copy(
                    f"COPY {link_table} (sequence, entry_id, previous_hash, entry_hash) "
                    "FROM STDIN") as copy:
                for link in links:
                    copy.write_row(link)
        else:
            _insert_links(cursor, link_table, links)
        cursor.execute(f"UPDATE {head_table} SET sequence = %s, entry_hash = %s WHERE id = 1",  # noqa: S608  # nosec B608
                       [sequence, running])


def _head(cursor, head_table: str, lock: str) -> tuple[int, str] | None:
    cursor.execute(f"SELECT sequence, entry_hash FROM {head_table} WHERE id = 1{lock}")  # noqa: S608  # nosec B608 - table name from our model
    return cursor.fetchone()


def _new_head(cursor, head_table: str, lock: str) -> tuple[int, str]:
    """The head of an empty chain (written by the first transaction to chain)."""
    cursor.execute(f"INSERT INTO {head_table} (id, sequence, entry_hash) "  # noqa: S608  # nosec B608
                   "VALUES (1, 0, %s) ON CONFLICT (id) DO NOTHING", [GENESIS])
    return _head(cursor, head_table, lock)


def _insert_links(cursor, link_table: str, links: list[tuple]) -> None:
    for start in range(0, len(links), LINKS_PER_INSERT):
        chunk = links[start:start + LINKS_PER_INSERT]
        cursor.execute(
            f"INSERT INTO {link_table} (sequence, entry_id, previous_hash, entry_hash) "  # noqa: S608  # nosec B608
            f"VALUES {', '.join(['(%s, %s, %s, %s)'] * len(chunk))}",
            [value for link in chunk for value in link])


def flush() -> None:
    """Chain what the open transaction has written so far, now (for a
    transaction that never commits, such as a test case's)."""
    connection = transaction.get_connection()
    ids, connection.audit_unchained = connection.audit_unchained, []
    if ids:
        chain_now(connection, ids)


@dataclass(frozen=True)
class Problem:
    sequence: int | None
    entry_id: int | None
    kind: str  # missing_link, deleted_entry, edited_entry, broken_link, unchained_entry
    detail: str

    def __str__(self) -> str:
        where = f"sequence {self.sequence}" if self.sequence is not None else "unchained"
        return f"{self.kind} at {where} (audit entry {self.entry_id}): {self.detail}"


@dataclass(frozen=True)
class Verdict:
    checked: int
    head_sequence: int
    head_hash: str
    problem: Problem | None

    @property
    def intact(self) -> bool:
        return self.problem is None


def verify() -> Verdict:
    """Walk the whole chain in batches (constant memory) and report the first
    broken, edited, deleted or unchained entry."""
    running, expected_sequence, checked = GENESIS, 1, 0
    for link, row in _links_with_entries():
        if link.sequence != expected_sequence:
            return Verdict(checked, expected_sequence - 1, running, Problem(
                expected_sequence, None, "missing_link",
                f"links {expected_sequence}..{link.sequence - 1} are gone"))
        if link.previous_hash != running:
            return Verdict(checked, link.sequence - 1, running, Problem(
                link.sequence, link.entry_id, "broken_link",
                "the link does not continue from the entry before it"))
        if row is None:
            return Verdict(checked, link.sequence - 1, running, Problem(
                link.sequence, link.entry_id, "deleted_entry", "the audit entry was deleted"))
        if entry_hash(running, row) != link.entry_hash:
            return Verdict(checked, link.sequence - 1, running, Problem(
                link.sequence, link.entry_id, "edited_entry",
                "the audit entry no longer matches its hash"))
        running, expected_sequence, checked = link.entry_hash, expected_sequence + 1, checked + 1
    # NOT EXISTS (an anti-join), not NOT IN: over millions of entries NOT IN's
    # hashed subplan no longer fits work_mem and PostgreSQL falls back to a
    # rescan of the links per entry (quadratic).
    linked = ChainLink.objects.filter(entry_id=OuterRef("pk"))
    unchained = (LogEntry.objects.filter(~Exists(linked))
                 .order_by("pk").values_list("pk", flat=True).first())
    if unchained is not None:
        return Verdict(checked, expected_sequence - 1, running, Problem(
            None, unchained, "unchained_entry", "an audit entry was written outside the chain"))
    return Verdict(checked, expected_sequence - 1, running, None)


def _links_with_entries() -> Iterator[tuple[ChainLink, dict | None]]:
    last = 0
    while True:
        links = list(ChainLink.objects.filter(sequence__gt=last).order_by("sequence")
                     [:VERIFY_BATCH])
        if not links:
            return
        rows = {row["id"]: row for row in LogEntry.objects.filter(
            pk__any_of=[link.entry_id for link in links]).values(*HASHED_FIELDS)}
        for link in links:
            yield link, rows.get(link.entry_id)
        last = links[-1].sequence


def checkpoint() -> dict:
    """The chain's head, signed with AUDIT_CHECKPOINT_KEY, to keep elsewhere."""
    head = ChainHead.objects.filter(pk=1).first() or ChainHead(sequence=0, entry_hash=GENESIS)
    body = {"sequence": head.sequence, "entry_hash": head.entry_hash,
            "at": datetime.now(UTC).isoformat(timespec="seconds")}
    return {**body, "signature": _sign(body)}


def check_checkpoint(saved: dict) -> str | None:
    """None if a saved checkpoint is genuine and still in the chain; else why not."""
    body = {k: saved.get(k) for k in ("sequence", "entry_hash", "at")}
    if not hmac.compare_digest(_sign(body), str(saved.get("signature", ""))):
        return "the checkpoint's signature is not valid"
    link = ChainLink.objects.filter(sequence=body["sequence"]).first()
    if body["sequence"] and (link is None or link.entry_hash != body["entry_hash"]):
        return f"the chain no longer holds entry hash {body['entry_hash']} at {body['sequence']}"
    return None


def _sign(body: dict) -> str:
    message = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(settings.AUDIT_CHECKPOINT_KEY.encode(), message, hashlib.sha256).hexdigest()
