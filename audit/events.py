"""Decisions and refusals written to django-auditlog's log.

Model changes are logged by django-auditlog itself; this module records the
events that are not a plain model diff (a refused sign-in, a claim, an
approval) as entries with structured ``additional_data``.
"""

from __future__ import annotations

import ipaddress
import json

from auditlog.models import LogEntry
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.http import HttpRequest


def client_address(request: HttpRequest | None) -> str | None:
    """The client's address: REMOTE_ADDR, or the address the nearest of
    ``TRUSTED_PROXY_COUNT`` proxies saw. Anything not an IP gives None."""
    if request is None:
        return None
    address = request.META.get("REMOTE_ADDR", "")
    hops = settings.TRUSTED_PROXY_COUNT
    if hops > 0:
        forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [p for p in forwarded if p]
        if len(forwarded) >= hops:
            address = forwarded[-hops]
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def record(
    event: str,
    *,
    target: models.Model | type[models.Model],
    actor=None,
    request: HttpRequest | None = None,
    **data,
) -> LogEntry:
    """Write one audit entry for ``event`` about ``target`` (an instance, or a
    model class when there is no instance, e.g. an unknown account)."""
    is_instance = isinstance(target, models.Model)
    model = target._meta.model if is_instance else target
    if actor is None and request is not None and request.user.is_authenticated:
        actor = request.user
    pk = target.pk if is_instance else None
    return LogEntry.objects.create(
        content_type=ContentType.objects.get_for_model(model),
        object_pk=str(pk) if pk is not None else "",
        object_id=pk if isinstance(pk, int) else None,
        object_repr=str(target) if is_instance else model._meta.verbose_name,
        action=LogEntry.Action.ACCESS,
        actor=actor,
        remote_addr=client_address(request),
        additional_data={"event": event, **data},
    )


def record_many(event: str, model: type[models.Model], items: list[tuple[int, dict]],
                actor=None) -> int:
    """Write one entry per (primary key, data) in bulk, for decisions made by a
    bulk update (which django-auditlog's signals never see), and chain them.

    On PostgreSQL the rows go in by COPY, with ids drawn from the table's
    sequence first: the expiry sweep writes one entry per case it expires,
    thousands at a time, and an INSERT with a parameter per column per row
    spends most of its time building and parsing that statement."""
    from .chain import append

    if not items:
        return 0
    content_type = ContentType.objects.get_for_model(model)
    from recovery_console import clock

    label = model._meta.verbose_name.capitalize()
    now = clock.now()
    actor_id = actor.pk if actor is not None else None
    connection = transaction.get_connection()
    if connection.vendor != "postgresql":
        entries = LogEntry.objects.bulk_create(
            LogEntry(content_type=content_type, object_pk=str(pk), object_id=pk,
                     object_repr=f"{label} {pk}", action=LogEntry.Action.ACCESS,
                     actor_id=actor_id, timestamp=now, additional_data={"event": event, **data})
            for pk, data in items
        )
        append([entry.pk for entry in entries])
        return len(entries)
    table = LogEntry._meta.db_table
    columns = ("id", "content_type_id", "object_pk", "object_id", "object_repr", "action",
               "changes_text", "actor_id", "timestamp", "additional_data")
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) "
                       "FROM generate_series(1, %s)", [table, len(items)])
        ids = [row[0] for row in cursor.fetchall()]
        with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for entry_id, (pk, data) in zip(ids, items, strict=True):
                copy.write_row((entry_id, content_type.pk, str(pk), pk, f"{label} {pk}",
                                LogEntry.Action.ACCESS, "", actor_id, now,
                                json.dumps({"event": event, **data})))
    append(ids)
    return len(ids)
