"""The audit hash chain: append under a lock, verify by streaming.

Each entry's hash covers its stored fields and the previous entry's hash, so
editing, deleting or inserting an entry anywhere breaks every hash after it.
Appends lock the single ChainHead row inside the writer's transaction: two
writers never chain onto the same predecessor, and a rolled-back decision
takes its link with it.
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
from django.db import transaction
from django.db.models import Exists, OuterRef

from .models import ChainHead, ChainLink

GENESIS = "0" * 64
HASHED_FIELDS = ("id", "content_type_id", "object_pk", "object_id", "object_repr", "action",
                 "changes", "changes_text", "actor_id", "remote_addr", "timestamp",
                 "additional_data", "cid")
VERIFY_BATCH = 2000


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
    """Chain these entries (in id order) onto the head; call inside the
    transaction that wrote them."""
    ids = sorted(entry_ids)
    if not ids:
        return
    with transaction.atomic():
        head, _ = ChainHead.objects.select_for_update().get_or_create(pk=1)
        rows = LogEntry.objects.filter(pk__in=ids).order_by("pk").values(*HASHED_FIELDS)
        links = []
        for row in rows:
            digest = entry_hash(head.entry_hash, row)
            head.sequence += 1
            links.append(ChainLink(sequence=head.sequence, entry_id=row["id"],
                                   previous_hash=head.entry_hash, entry_hash=digest))
            head.entry_hash = digest
        ChainLink.objects.bulk_create(links)
        head.save(update_fields=["sequence", "entry_hash"])


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
            pk__in=[link.entry_id for link in links]).values(*HASHED_FIELDS)}
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
