"""Connectors to the identity providers a restore target hands off to: one
module per provider (``entra``, ``okta``, ``keycloak``) behind one small
interface, ``Connector``. A connector speaks HTTP and nothing else: it knows
no case, no model and no database; the restore workflow decides when to call
it and records what it answered.

Every failure, whatever the provider, is one ``ProviderError`` carrying its
``kind`` (what the console does about it), the provider's request id and a
reason a person can act on.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar
from urllib.parse import urlencode


class Kind:
    """What went wrong at the provider, by what the console does about it."""

    BAD_CREDENTIALS = "bad_credentials"  # 401/403: the console's own credentials; fix set-up
    UNKNOWN_USER = "unknown_user"  # 404: the person is not (or no longer) there
    CONFLICT = "conflict"  # 409: the provider's state forbids it now
    REJECTED = "rejected"  # another 4xx: the provider refused what was asked
    THROTTLED = "throttled"  # 429: try again after retry_after seconds
    PROVIDER_ERROR = "provider_error"  # 5xx, or an answer the console cannot read
    TIMEOUT = "timeout"  # no answer in time: the call may or may not have happened

    RETRYABLE = frozenset({THROTTLED, PROVIDER_ERROR, TIMEOUT})


class ProviderError(Exception):
    """A provider call that did not do what was asked."""

    def __init__(self, kind: str, reason: str, *, provider: str, status: int | None = None,
                 request_id: str = "", retry_after: int | None = None, code: str = ""):
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.provider = provider
        self.status = status
        self.request_id = request_id
        self.retry_after = retry_after
        self.code = code  # the provider's own error code (Graph code, Okta errorCode)

    @property
    def retryable(self) -> bool:
        return self.kind in Kind.RETRYABLE

    def __str__(self) -> str:
        return self.reason

    def as_data(self) -> dict:
        return {"kind": self.kind, "reason": self.reason, "provider": self.provider,
                "status": self.status, "request_id": self.request_id,
                "retry_after": self.retry_after, "code": self.code}


@dataclass
class Subject:
    """The person as the provider knows them."""

    id: str
    login: str = ""
    request_id: str = ""


@dataclass
class TemporaryCredential:
    """The provider's own short-lived credential. ``secret`` is its value,
    returned once by the provider and never again ("" when the provider
    delivers it itself, as Keycloak's email does)."""

    id: str
    secret: str
    expires_at: datetime | None
    single_use: bool
    request_id: str = ""
    delivered_by_provider: bool = False
    created_at: datetime | None = None


@dataclass
class Outcome:
    """What a removal or revocation did, and the request ids that did it."""

    removed: list[str] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)


@dataclass
class Response:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would carry the bearer token to another address: refused,
    so it comes back as the 3xx it is."""

    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects)


def retry_after_seconds(headers: Message, now: datetime | None = None) -> int | None:
    """Retry-After as whole seconds (it may be seconds, even decimal, or an
    HTTP date); None when absent or unreadable."""
    value = (headers.get("Retry-After") or "").strip()
    if not value:
        return None
    try:
        return max(0, math.ceil(float(value)))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = now or datetime.now(UTC)
    return max(0, math.ceil((when - now).total_seconds()))


class Connector:
    """One provider. Subclasses name their ``provider`` and implement the
    interface below; ``_send`` makes every call with a timeout and turns
    what failed into a ProviderError through ``_error``."""

    provider: ClassVar[str] = ""
    label: ClassVar[str] = ""

    def __init__(self, *, timeout: float = 10.0):
        self.timeout = timeout

    # The interface the restore workflow calls.

    def find_subject(self, subject_id: str) -> Subject:
        """The person with this id at the provider (ProviderError
        unknown_user when there is none)."""
        raise NotImplementedError

    def find_temporary_credentials(self, subject: Subject) -> list[TemporaryCredential]:
        """The provider's temporary credentials the person has now (their
        values are never returned again): checked before creating one."""
        raise NotImplementedError

    def issue_temporary_credential(self, subject: Subject, lifetime: timedelta,
                                   single_use: bool, idempotency_key: str
                                   ) -> TemporaryCredential:
        """Create the person's temporary credential at the provider."""
        raise NotImplementedError

    def remove_temporary_credential(self, subject: Subject, credential_id: str) -> Outcome:
        raise NotImplementedError

    def remove_passkeys(self, subject: Subject) -> Outcome:
        """Delete every passkey (FIDO2 / WebAuthn credential) the person has."""
        raise NotImplementedError

    def revoke_sessions(self, subject: Subject) -> Outcome:
        """End every session the person has at the provider."""
        raise NotImplementedError

    # HTTP.

    def _send(self, method: str, url: str, *, headers: dict[str, str] | None = None,
              json_body: Any = None, form: dict[str, str] | None = None,
              what: str) -> Response:
        """One call, with a timeout; a 2xx answer is returned, anything else
        raised as ProviderError (``what`` names the call in its reason)."""
        headers = {"Accept": "application/json", **(headers or {})}
        data = None
        if json_body is not None:
            data = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        elif form is not None:
            data = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if not url.startswith(("https://", "http://")):
            raise ProviderError(Kind.REJECTED, f"The address configured for {self.label} is not "
                                "an http(s) address.", provider=self.provider)
        # The scheme is checked just above: no file: or custom scheme reaches urlopen.
        request = urllib.request.Request(url, data=data, headers=headers,  # noqa: S310
                                         method=method)
        try:
            with _opener.open(request, timeout=self.timeout) as answer:  # noqa: S310
                response = Response(answer.status, answer.headers, answer.read())
        except urllib.error.HTTPError as failed:
            try:
                body = failed.read()
            except (OSError, TimeoutError):
                body = b""
            response = Response(failed.code, failed.headers, body)
        except TimeoutError as late:
            raise ProviderError(
                Kind.TIMEOUT, f"{self.label} did not answer {what} within {self.timeout:g} s; "
                "it may or may not have been done.", provider=self.provider) from late
        except urllib.error.URLError as unreachable:
            if isinstance(unreachable.reason, TimeoutError):
                raise ProviderError(
                    Kind.TIMEOUT, f"{self.label} did not answer {what} within "
                    f"{self.timeout:g} s; it may or may not have been done.",
                    provider=self.provider) from unreachable
            raise ProviderError(
                Kind.PROVIDER_ERROR, f"{self.label} could not be reached for {what}: "
                f"{unreachable.reason}.", provider=self.provider) from unreachable
        except OSError as broken:
            raise ProviderError(
                Kind.PROVIDER_ERROR, f"The connection to {self.label} broke during {what}: "
                f"{broken}.", provider=self.provider) from broken
        if 200 <= response.status < 300:
            return response
        raise self._error(response, what)

    def _error(self, response: Response, what: str) -> ProviderError:
        """The provider's failed answer as a ProviderError: subclasses read
        their error body and request id, then call ``_classified``."""
        return self._classified(response, what, detail="", request_id="", code="")

    def _classified(self, response: Response, what: str, *, detail: str, request_id: str,
                    code: str, retry_after: int | None = None) -> ProviderError:
        status = response.status
        said = f" ({detail})" if detail else ""
        if status in (401, 403):
            kind = Kind.BAD_CREDENTIALS
            reason = (f"{self.label} refused the console's credentials for {what}{said}: "
                      "check the target's client id, secret and granted permissions.")
        elif status == 404:
            kind = Kind.UNKNOWN_USER
            reason = (f"{self.label} does not know this person ({what}){said}: check the id "
                      "at the provider in the directory.")
        elif status == 409:
            kind = Kind.CONFLICT
            reason = f"{self.label} refused {what} as the account stands now{said}."
        elif status == 429:
            kind = Kind.THROTTLED
            retry_after = retry_after if retry_after is not None else retry_after_seconds(
                response.headers)
            wait = f"; it asks to wait {retry_after} s" if retry_after is not None else ""
            reason = f"{self.label} is limiting the console's calls ({what}){wait}{said}."
        elif status >= 500:
            kind = Kind.PROVIDER_ERROR
            # A 503 may say when to come back (RFC 9110 §10.2.3).
            retry_after = retry_after if retry_after is not None else retry_after_seconds(
                response.headers)
            reason = f"{self.label} failed {what} on its side (HTTP {status}){said}."
        elif 400 <= status < 500:
            kind = Kind.REJECTED
            reason = f"{self.label} refused {what} (HTTP {status}){said}."
        else:
            kind = Kind.PROVIDER_ERROR
            reason = f"{self.label} answered {what} with an unexpected HTTP {status}{said}."
        return ProviderError(kind, reason, provider=self.provider, status=status,
                             request_id=request_id, retry_after=retry_after, code=code)

    def _unreadable(self, response: Response, what: str, request_id: str = "") -> ProviderError:
        return ProviderError(Kind.PROVIDER_ERROR,
                             f"{self.label} answered {what} with a body the console cannot "
                             "read.", provider=self.provider, status=response.status,
                             request_id=request_id)


def parse_time(value: str | None) -> datetime | None:
    """An ISO 8601 time from a provider (with or without zone; none is UTC)."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
