"""The self-service request is no account oracle: the page records the
request and answers, identically and after the same work, whether or not
the identifier names anyone; a worker opens the case or audits the refusal
afterwards, and forgets the identifier. A lost task is made up by the sweep."""

import json
import re
import time
from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from recovery_console import clock, tasks, tokens
from recovery_console.models import Notice, RecoveryCase, SelfServiceRequest
from tests.factories import reachable_identity
from tests.notices.test_broker_outage import broker  # noqa: F401
from tests.services import wait_for, worker

from .support import events, refusals

REQUEST = reverse("recovery:self_service")
CSRF_META = re.compile(r'name="csrf-token" content="[^"]*"')
REQUEST_ID = re.compile(r"[0-9a-f]{32}")
# Values that differ between any two requests by nature, whoever is asked
# about: the request's own correlation id (random per request), the masked
# CSRF token in the page (Django masks it afresh for every response), and the
# expiry date of the re-sent CSRF cookie (now + one year, to the second).
PER_REQUEST_HEADERS = {"X-Request-ID"}


def cookie_jar(response) -> dict:
    return {name: (morsel.value, {k: v for k, v in morsel.items() if k != "expires"})
            for name, morsel in response.cookies.items()}


def statements(queries) -> list[str]:
    """The SQL run, without its values (timestamps, addresses, the identifier)
    and savepoint names (numbered per connection)."""
    return [re.sub(r"'(?:[^']|'')*'|\b\d+\b|\"s\d+_x\d+\"", "?", q["sql"]) for q in queries]


@pytest.mark.django_db
def test_known_and_unknown_identifiers_get_the_same_status_headers_and_body_after_the_same_work():
    identity = reachable_identity()
    browser = Client(enforce_csrf_checks=True, REMOTE_ADDR="203.0.113.7")
    browser.get(REQUEST)  # a person opens the page first: the CSRF cookie is set here
    token = browser.cookies["csrftoken"].value
    answers, work = [], []
    for identifier in (identity.directory_id, "nobody@example.org",
                       identity.channels.get(kind="email").address, "ghost-000"):
        with CaptureQueriesContext(connection) as queries:
            answers.append(browser.post(REQUEST, {"identifier": identifier,
                                                  "csrfmiddlewaretoken": token}))
        work.append(statements(queries.captured_queries))

    assert {a.status_code for a in answers} == {200}
    assert len({CSRF_META.sub("", a.content.decode()) for a in answers}) == 1
    assert "Request received" in answers[0].content.decode()
    headers = [{k: v for k, v in a.headers.items() if k not in PER_REQUEST_HEADERS}
               for a in answers]
    assert all(h == headers[0] for h in headers)
    assert all(REQUEST_ID.fullmatch(a.headers["X-Request-ID"]) for a in answers)
    cookies = [cookie_jar(a) for a in answers]
    assert all(c == cookies[0] for c in cookies)  # the CSRF cookie, re-sent unchanged
    assert all(w == work[0] for w in work)  # the same statements, in the same order
    assert SelfServiceRequest.objects.count() == 4
    assert not RecoveryCase.objects.exists()  # nothing is decided in the request


@pytest.mark.django_db
def test_the_worker_opens_the_case_for_a_known_identifier_and_forgets_the_identifier():
    identity = reachable_identity()
    Client(REMOTE_ADDR="203.0.113.7").post(REQUEST, {"identifier": identity.directory_id})
    pending = SelfServiceRequest.objects.get()
    assert pending.client_address == "203.0.113.7"

    assert tasks.resolve_self_service_request(pending.pk) == "opened"
    case = RecoveryCase.objects.get(identity=identity)
    assert case.source == "self_service" and case.opened_by is None
    assert Notice.objects.filter(event="recovery_requested", identity=identity).count() == 2
    opened = events("case_opened").get()
    assert opened.remote_addr == "203.0.113.7"  # audited as if in the request
    assert not SelfServiceRequest.objects.exists()


@pytest.mark.django_db
def test_the_worker_audits_an_unknown_identifier_without_keeping_or_logging_it(caplog):
    caplog.set_level("DEBUG")
    Client(REMOTE_ADDR="203.0.113.8").post(REQUEST, {"identifier": "Nobody@Example.org"})
    assert tasks.resolve_self_service_request(SelfServiceRequest.objects.get().pk) == "unknown"

    refused = refusals("case_open", "unknown_account").get()
    assert refused.remote_addr == "203.0.113.8"
    assert refused.additional_data["identifier_digest"] == tokens.digest(
        "self-service-identifier", "nobody@example.org")
    everything = json.dumps([[e.additional_data, e.changes, e.object_repr]
                             for e in LogEntry.objects.all()]).lower()
    assert "nobody" not in everything
    assert "nobody" not in caplog.text.lower()
    assert not SelfServiceRequest.objects.exists()
    assert not RecoveryCase.objects.exists()


@pytest.mark.django_db
def test_resolving_a_request_twice_opens_one_case_and_audits_once():
    identity = reachable_identity()
    Client().post(REQUEST, {"identifier": identity.directory_id})
    pending = SelfServiceRequest.objects.get()
    assert tasks.resolve_self_service_request(pending.pk) == "opened"
    assert tasks.resolve_self_service_request(pending.pk) == "skipped"
    assert RecoveryCase.objects.filter(identity=identity).count() == 1
    assert events("case_opened").count() == 1
    assert not refusals("case_open").exists()  # no "already open" from the second run
    assert Notice.objects.filter(event="recovery_requested").count() == 2


@pytest.mark.django_db
def test_the_sweep_resolves_requests_whose_task_was_lost_and_only_those(monkeypatch):
    identity = reachable_identity()
    Client().post(REQUEST, {"identifier": identity.directory_id})
    Client().post(REQUEST, {"identifier": "nobody@example.org"})
    # Just recorded: its task may be on its way, so the sweep leaves it.
    assert tasks.resolve_overdue_self_service_requests() == 0
    later = clock.now() + timedelta(seconds=31)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert tasks.resolve_overdue_self_service_requests() == 2
    assert RecoveryCase.objects.filter(identity=identity).count() == 1
    assert refusals("case_open", "unknown_account").count() == 1
    assert tasks.resolve_overdue_self_service_requests() == 0
    assert not SelfServiceRequest.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_request_made_while_the_broker_is_down_is_answered_and_opens_its_case_later(
        broker, recovery_reference_data, monkeypatch):  # noqa: F811
    redis, app = broker
    first, second = reachable_identity(), reachable_identity()

    with worker(app):
        Client().post(REQUEST, {"identifier": first.directory_id})
        # The task queued when the request committed: a worker resolves it at once.
        assert wait_for(lambda: RecoveryCase.objects.filter(identity=first).exists())

    redis.stop()
    started = time.monotonic()
    response = Client().post(REQUEST, {"identifier": second.directory_id})
    assert response.status_code == 200  # the same answer ...
    assert time.monotonic() - started < 10  # ... without hanging on the broker
    assert SelfServiceRequest.objects.count() == 1  # the request is on record
    assert not RecoveryCase.objects.filter(identity=second).exists()

    redis.start()
    later = clock.now() + timedelta(minutes=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    with worker(app):
        tasks.resolve_overdue_self_service_requests.delay()  # what beat sends every minute
        assert wait_for(lambda: RecoveryCase.objects.filter(identity=second).exists())
        tasks.resolve_overdue_self_service_requests.delay()  # a second sweep: nothing left
        time.sleep(0.5)
    assert RecoveryCase.objects.filter(identity=second).count() == 1
    assert not SelfServiceRequest.objects.exists()
    assert not refusals("case_open").exists()
