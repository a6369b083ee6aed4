"""Error reports to a Sentry-compatible service, only when ``SENTRY_DSN`` is set.

Without a DSN nothing is set up and sentry-sdk is not even imported. With one,
unhandled exceptions in views and Celery tasks (and lines logged at ERROR)
are reported, with their stack but without local variables, request bodies,
query strings, cookies or any header but a harmless few. What remains is
scrubbed before it leaves the process:

- values under names like code, token, secret, password, handle, signature,
  cookie, session (sentry-sdk's ``EventScrubber`` with the console's names,
  and a pass over every key whose name contains one of them);
- in every string: the secret part of recovery and attestation links (the
  rule of the logs), recovery credential codes, e-mail addresses, IP
  addresses, phone numbers, runs of six or more digits (channel codes, TOTP)
  and long random-looking tokens.

The request id and case correlation id of the log lines go along as tags, so
a report leads to its log lines.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .logs import correlation_id_var, redact, request_id_var

FILTERED = "[Filtered]"
# A key containing one of these names has its value replaced, whatever it holds.
_SECRET_KEY_NAMES = ("code", "token", "secret", "password", "passwd", "handle", "signature",
                     "cookie", "authorization", "session", "csrf", "otp", "dsn", "digest",
                     "credential", "email", "phone", "address", "remote_addr", "forwarded")
# The only request headers a report keeps.
_HARMLESS_HEADERS = {"accept", "content-length", "content-type", "host", "user-agent",
                     "x-request-id"}
# Parts of an event that are the SDK's own bookkeeping, left as they are.
_UNTOUCHED = {"event_id", "timestamp", "start_timestamp", "trace_id", "span_id", "release",
              "environment", "parent_span_id", "modules", "sdk", "debug_meta", "_meta",
              "handled", "status_code"}

_CREDENTIAL_CODE = re.compile(r"\b[A-Z2-9]{5}(?:-[A-Z2-9]{5}){3}\b")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
_IPV6 = re.compile(r"(?<![\w:])(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}"
                   r"|(?:[0-9A-Fa-f]{1,4}:){0,6}[0-9A-Fa-f]{0,4}::(?:[0-9A-Fa-f]{1,4}:){0,6}"
                   r"[0-9A-Fa-f]{0,4})(?![\w:])")
_PHONE = re.compile(r"(?<![\w+])\+?\(?\d[\d ().-]{6,}\d(?!\w)")
_DATE = re.compile(r"\d{4}-\d\d-\d\d")
_DIGITS = re.compile(r"\d{6,}")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,}")


def _phone(match: re.Match) -> str:
    text = match.group()
    digits = sum(char.isdigit() for char in text)
    if text.startswith("+") or (digits >= 9 and not _DATE.search(text)):
        return "[phone]"
    return text


def _token(match: re.Match) -> str:
    text = match.group()
    looks_random = any(c.isdigit() for c in text) and any(c.isalpha() for c in text)
    return "[token]" if looks_random else text


def scrub_text(text: str) -> str:
    """``text`` without secret link parts, codes, addresses, numbers or tokens."""
    text = redact(text)
    text = _CREDENTIAL_CODE.sub("[code]", text)
    text = _EMAIL.sub("[email]", text)
    text = _IPV6.sub(lambda m: "[ip]" if m.group().count(":") >= 2 else m.group(), text)
    text = _IPV4.sub("[ip]", text)
    text = _PHONE.sub(_phone, text)
    text = _DIGITS.sub("[number]", text)
    return _TOKEN.sub(_token, text)


def _is_secret_key(key) -> bool:
    return isinstance(key, str) and any(name in key.lower() for name in _SECRET_KEY_NAMES)


def _scrubbed(value):
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {key: (value[key] if key in _UNTOUCHED
                      else FILTERED if _is_secret_key(key) else _scrubbed(value[key]))
                for key in value}
    if isinstance(value, list | tuple):
        return [_scrubbed(item) for item in value]
    return value


def _trim_request(request: dict) -> dict:
    kept = {key: request[key] for key in ("method", "url") if key in request}
    headers = request.get("headers") or {}
    kept["headers"] = {name: value for name, value in headers.items()
                       if name.lower() in _HARMLESS_HEADERS}
    return kept


def scrub_event(event: dict, hint: dict | None = None) -> dict:
    """``before_send``: the event with nothing secret or personal left in it."""
    if isinstance(event.get("request"), dict):
        event["request"] = _trim_request(event["request"])
    event.pop("user", None)
    event = _scrubbed(event)
    # Ids the console made or accepted as sane tokens: kept as they are.
    tags = event.setdefault("tags", {})
    for name, var in (("request_id", request_id_var), ("correlation_id", correlation_id_var)):
        if var.get():
            tags[name] = var.get()
    return event


def scrub_breadcrumb(crumb: dict, hint: dict | None = None) -> dict:
    """``before_breadcrumb``: a breadcrumb (a log line, an outgoing request)
    without query strings, fragments or anything ``scrub_event`` removes."""
    data = crumb.get("data")
    if isinstance(data, dict):
        crumb["data"] = {key: value for key, value in data.items()
                         if key not in ("http.query", "http.fragment")}
    return _scrubbed(crumb)


def traces_sample_rate(value: str) -> float:
    """``SENTRY_TRACES_SAMPLE_RATE`` as a share between 0 and 1."""
    try:
        rate = float(value or 0)
    except ValueError:
        rate = -1.0
    if not 0 <= rate <= 1:
        raise ImproperlyConfigured(
            f"SENTRY_TRACES_SAMPLE_RATE must be a number from 0 to 1, got {value!r}")
    return rate


def start_error_reporting() -> bool:
    """Set up sentry-sdk when ``SENTRY_DSN`` is set; True if it was."""
    if not settings.SENTRY_DSN:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber
    from sentry_sdk.utils import BadDsn

    try:
        sentry_sdk.init(
            dsn=settings.SENTRY_DSN,
            environment=settings.SENTRY_ENVIRONMENT or None,
            release=settings.SENTRY_RELEASE or None,
            traces_sample_rate=traces_sample_rate(settings.SENTRY_TRACES_SAMPLE_RATE),
            integrations=[DjangoIntegration(), CeleryIntegration()],
            # Personal data stays out: sentry-sdk sends none unless told to
            # (send_default_pii, deprecated in favour of data_collection, is
            # left unset, which means off and keeps EventScrubber working).
            include_local_variables=False,
            max_request_body_size="never",
            event_scrubber=EventScrubber(
                denylist=[*DEFAULT_DENYLIST, *_SECRET_KEY_NAMES, "x_recovery_signature",
                          "x-recovery-signature", "x_recovery_console_signature"],
                recursive=True),
            before_send=scrub_event,
            before_breadcrumb=scrub_breadcrumb,
        )
    except BadDsn as exc:
        raise ImproperlyConfigured(f"SENTRY_DSN is not a valid DSN: {exc}") from None
    return True
