"""Structured logs: one JSON object per line (python-json-logger's formatter),
with the request id and the case correlation id of whatever the process is
doing at the time.

Links that carry secrets (``/recover/<handle>/``, ``/attest/<token>/``) are
redacted from every message, wherever it comes from (Django's own "Not
Found: <path>" warnings included); codes and passwords are never passed to a
logger in the first place.

A line is one line whatever a field holds: every C0 and C1 control character
and Unicode line or paragraph separator is escaped in the written line (a
request path with U+2028 or U+009B would otherwise split the line for
``splitlines()`` and colour a terminal).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid

import pythonjsonlogger.json

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None)
correlation_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None)

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{7,99}$")
# The redeem link's handle, the attestation, "this wasn't me" and passkey
# enrolment links' tokens are (half of) a secret; the fixed pages under
# /recover/ are not.
_SECRET_PATHS = re.compile(
    r"/(recover/not-me|recover|attest|my/enrol)/(?!(?:enrol|done)(?:/|$))[^/\s?#\"']+")


# C0, DEL, C1 (U+0085 NEL and U+009B CSI among them), and the Unicode line and
# paragraph separators: what splits a line or drives a terminal.
LINE_BREAKING = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escape_char(match: re.Match) -> str:
    return f"\\u{ord(match.group()):04x}"


def escape_controls(text: str) -> str:
    """``text`` with every control and line separator written as ``\\uXXXX``:
    a terminal shows it, nothing splits or colours the line. Inside a JSON
    document the escape is JSON's own, so the value parses back unchanged."""
    return LINE_BREAKING.sub(_escape_char, text)


def one_line_json(value, **options) -> str:
    """``json.dumps(value)`` as a single line with no raw control character or
    line separator, whatever string the value holds (keys, nested values).
    ``json.dumps`` escapes C0 controls itself, not DEL, C1 or U+2028/U+2029."""
    return escape_controls(json.dumps(value, **options))


def redact(text: str) -> str:
    """``text`` with the secret part of recovery and attestation links removed."""
    return _SECRET_PATHS.sub(r"/\1/[redacted]", text)


def inbound_request_id(value: str | None) -> str:
    """The caller's X-Request-ID when it is a sane token, else a new one."""
    if value and _SANE_REQUEST_ID.match(value):
        return value
    return uuid.uuid4().hex


class ContextFilter(logging.Filter):
    """Stamps every record with the current request id and correlation id."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Django logs a response's 4xx/5xx after the middleware has returned:
        # it passes the request along, which remembers its ids.
        request = getattr(record, "request", None)
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get() or getattr(request, "request_id", None)
        if getattr(record, "correlation_id", None) is None:
            record.correlation_id = (correlation_id_var.get()
                                     or getattr(request, "correlation_id", None))
        # Celery's own lines about a task ("received", "succeeded", "raised")
        # carry it as data; the worker writes some outside the task's run.
        task = getattr(record, "data", None)
        if isinstance(task, dict) and task.get("id"):
            record.request_id = record.request_id or f"task-{task['id']}"
            record.task_id = getattr(record, "task_id", None) or task["id"]
            record.task_name = getattr(record, "task_name", None) or task.get("name")
        return True


# Attributes a record may carry that are worth writing; others (Django's
# request object, Celery's task data) stay out of the line.
_EXTRA_FIELDS = ("method", "path", "status", "status_code", "duration_ms", "task_id",
                 "task_name", "remote_addr", "trace_id", "span_id")
# The fields of a line, in this order, under the names operators know.
_FIELDS = ("time", "level", "logger", "message", "request_id", "correlation_id",
           *_EXTRA_FIELDS, "exception", "stack")


class _Encoder(pythonjsonlogger.json.JsonEncoder):
    def format_datetime_obj(self, o) -> str:
        return o.isoformat(timespec="milliseconds")


def _redacted(value):
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {_redacted(key): _redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(item) for item in value]
    return value


class JsonFormatter(pythonjsonlogger.json.JsonFormatter):
    """python-json-logger's formatter, writing the console's fields: time,
    level, logger, message, the ids, known extras, exception and stack. Every
    string is redacted, and the line is serialised by ``one_line_json``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(
            ["levelname", "name", "message"], timestamp="time",
            rename_fields={"levelname": "level", "name": "logger", "exc_info": "exception",
                           "stack_info": "stack"},
            json_encoder=_Encoder, json_serializer=one_line_json, json_ensure_ascii=False)

    def process_log_record(self, log_data: dict) -> dict:
        return {name: _redacted(log_data[name]) for name in _FIELDS
                if log_data.get(name) not in (None, "") or name == "message"}


class PlainFormatter(logging.Formatter):
    """Human-readable lines for a terminal, redacted like the JSON ones. The
    line itself has its controls escaped; a traceback keeps its own lines, each
    escaped and indented, so nothing in it passes for a line of its own."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        line = escape_controls(redact(super().formatMessage(record)))
        request_id = getattr(record, "request_id", None)
        return f"{line} [request {escape_controls(str(request_id))}]" if request_id else line

    def formatException(self, ei) -> str:  # noqa: N802 - logging's name
        return _indented(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 - logging's name
        return _indented(super().formatStack(stack_info))


def _indented(text: str) -> str:
    return "\n".join("    | " + escape_controls(redact(line)) for line in text.split("\n"))


request_log = logging.getLogger("recovery_console.request")
# Probed every few seconds: logged only at DEBUG, so they do not drown the rest.
_QUIET_PATHS = {"/healthz", "/readyz", "/metrics"}

# Views whose ``pk`` is a case's: their log lines carry "case-<pk>".
_CASE_VIEWS = {"case", "claim", "unclaim", "step", "request_approval", "issue", "cancel",
               "decide"}


# Redemptions find their case as they count the attempt: the view names it
# (``correlate``) instead of a lookup of its own before the view.
_SELF_CORRELATING_POSTS = {"redeem", "redeem_read_out"}


def _case_correlation(request, view_kwargs: dict) -> str | None:
    match = request.resolver_match
    if match is None or match.namespace != "recovery":
        return None
    if match.url_name in _CASE_VIEWS and "pk" in view_kwargs:
        return f"case-{view_kwargs['pk']}"
    if match.url_name in _SELF_CORRELATING_POSTS and request.method == "POST":
        return None
    return _case_of_link(match.url_name, view_kwargs)


def correlate(request, case_id: int | None) -> None:
    """Name the case a request turned out to be about: the lines still to
    come (its request line among them) and its trace span carry it."""
    if case_id:
        request.correlation_id = f"case-{case_id}"
        correlation_id_var.set(request.correlation_id)


def _case_of_link(url_name: str, view_kwargs: dict) -> str | None:
    """The case behind a redeem or attestation link (one indexed lookup)."""
    from recovery_console import tokens
    from recovery_console.models import Attestation, RecoveryCredential

    if any("\x00" in str(value) for value in view_kwargs.values()):
        return None  # no such link; PostgreSQL refuses NUL in a query
    if url_name == "redeem" and "handle" in view_kwargs:
        found = RecoveryCredential.objects.filter(handle=view_kwargs["handle"])
    elif url_name == "attestation" and "token" in view_kwargs:
        found = Attestation.objects.filter(
            digest=tokens.digest("attestation", view_kwargs["token"]))
    else:
        return None
    case_id = found.values_list("case_id", flat=True).first()
    return f"case-{case_id}" if case_id else None


class RequestIdMiddleware:
    """Gives every request an id (the caller's sane X-Request-ID or a new
    one), puts it on the response, and logs one line per request with the
    method, the redacted path, the status and the duration."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = inbound_request_id(request.headers.get(REQUEST_ID_HEADER))
        id_token = request_id_var.set(request.request_id)
        case_token = correlation_id_var.set(None)
        started = time.monotonic()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request.request_id
            level = logging.DEBUG if request.path in _QUIET_PATHS else logging.INFO
            request_log.log(
                level, "%s %s %s", request.method, redact(request.path), response.status_code,
                extra={"method": request.method, "path": redact(request.path),
                       "status": response.status_code,
                       "duration_ms": round((time.monotonic() - started) * 1000, 1)})
            return response
        finally:
            correlation_id_var.reset(case_token)
            request_id_var.reset(id_token)

    def process_view(self, request, view_func, view_args, view_kwargs):
        correlation = _case_correlation(request, view_kwargs)
        if correlation:
            request.correlation_id = correlation
            correlation_id_var.set(correlation)
        return None
