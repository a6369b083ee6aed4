"""Security monitoring sinks: where the console reports what a security team
must see (recoveries, alerts). Chosen by the MONITORING_SINK setting.

An event is a small JSON object with a correlation id (the case) and never a
secret: no codes, links or message bodies. Every sink writes it as one line:
no raw control character or line separator, whatever a field holds.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import logging.handlers
import urllib.request
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from recovery_console.ops.logs import one_line_json


class DeliveryFailed(Exception):
    """A sink or provider could not take the message; the worker retries."""


def send_event(event: dict, idempotency_key: str) -> None:
    sink = settings.MONITORING_SINK
    sender = SINKS.get(sink)
    if sender is None:
        raise ImproperlyConfigured(f"MONITORING_SINK must be one of {sorted(SINKS)}, not {sink!r}")
    sender(event, idempotency_key)


def _jsonl(event: dict, idempotency_key: str) -> None:
    path = Path(settings.MONITORING_JSONL_PATH)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(one_line_json({**event, "idempotency_key": idempotency_key}, sort_keys=True)
                  + "\n")


def signature(body: bytes) -> str:
    """HMAC-SHA256 of the request body under MONITORING_WEBHOOK_SECRET."""
    key = settings.MONITORING_WEBHOOK_SECRET.encode()
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def _webhook(event: dict, idempotency_key: str) -> None:
    url = settings.MONITORING_WEBHOOK_URL
    if not url.startswith(("https://", "http://")) or not settings.MONITORING_WEBHOOK_SECRET:
        raise ImproperlyConfigured("The webhook sink needs MONITORING_WEBHOOK_URL and _SECRET")
    body = one_line_json(event, sort_keys=True).encode()
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url, data=body, method="POST",
        headers={"Content-Type": "application/json", "Idempotency-Key": idempotency_key,
                 "X-Recovery-Console-Signature": signature(body)},
    )
    try:
        # The scheme is checked above: http(s) only.
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  # nosec B310
            if response.status >= 300:
                raise DeliveryFailed(f"webhook answered {response.status}")
    except OSError as exc:
        raise DeliveryFailed(f"webhook unreachable: {exc}") from exc


_syslog_logger = logging.getLogger("recovery_console.monitoring")


def _syslog(event: dict, idempotency_key: str) -> None:
    if not any(isinstance(h, logging.handlers.SysLogHandler) for h in _syslog_logger.handlers):
        address = settings.MONITORING_SYSLOG_ADDRESS
        if ":" in address:
            host, port = address.rsplit(":", 1)
            target = (host, int(port))
        else:
            target = address
        _syslog_logger.addHandler(logging.handlers.SysLogHandler(address=target))
        _syslog_logger.propagate = False
    _syslog_logger.warning("recovery-console %s",
                           one_line_json({**event, "idempotency_key": idempotency_key},
                                         sort_keys=True))


SINKS = {"jsonl": _jsonl, "webhook": _webhook, "syslog": _syslog}
