"""Traces: a request, its queries and the Celery tasks it sends are one trace,
linked to the console's request id; nothing is traced, or even imported,
unless an OTLP endpoint is configured.

Instrumenting is process-wide patching: the in-process tests instrument with
their own in-memory provider and undo it in teardown, so no other test of the
run is traced; the tests of the configured start run in subprocesses."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from django.db import connection
from django.urls import reverse
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from recovery_console.celery import app
from recovery_console.models import ChannelCode, Notice
from recovery_console.ops import tracing
from recovery_console.ops.logs import JsonFormatter
from tests.factories import recovery_case
from tests.recovery.support import channel_of, step_of
from tests.services import free_port, wait_for, wait_for_port, worker
from tests.sessions import sign_in_client

ROOT = Path(__file__).resolve().parents[2]
DELIVER = "recovery_console.tasks.deliver_notice"


@pytest.fixture
def spans(monkeypatch):
    """Every span the console makes while the test runs, kept in memory."""
    for name in [name for name in os.environ if name.startswith("OTEL_")]:
        monkeypatch.delenv(name)
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.instrument(provider)
    if not connection.in_atomic_block:
        connection.close()  # opened before psycopg was instrumented
    try:
        yield exporter
    finally:
        tracing.uninstrument()
        connection.close()  # the instrumented connection goes with the instrumentation
        provider.shutdown()


@pytest.fixture
def request_log():
    """The request log records as the logging system made them."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    logger = logging.getLogger("recovery_console.request")
    handler = Keep(level=logging.INFO)
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def by_kind(found, kind):
    return [span for span in found if span.kind == kind]


def queries(found):
    return [span for span in found if "db.system" in span.attributes]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("recovery_reference_data")
def test_a_request_its_queries_and_the_tasks_it_sends_are_one_trace(
        spans, request_log, client, agent):
    case = recovery_case("low", agent=agent)
    desk = sign_in_client(client, agent)
    step = step_of(case, "channel_code")
    earlier = list(Notice.objects.values_list("pk", flat=True))
    with worker(app):
        spans.clear()  # the set-up's own queries
        # The agent sends a one-time code to the caller's phone: one notice.
        response = desk.post(reverse("recovery:step", args=[case.pk, step.pk]),
                             {"action": "send", "channel": channel_of(case).pk},
                             HTTP_X_REQUEST_ID="desk-call-20261130-0001")
        assert response.status_code == 302
        owed = Notice.objects.exclude(pk__in=earlier).count()
        assert owed >= 1
        assert wait_for(lambda: len([s for s in spans.get_finished_spans()
                                     if s.name == f"run/{DELIVER}"]) == owed)
    assert ChannelCode.objects.filter(case=case, step=step).count() == 1
    assert not Notice.objects.exclude(pk__in=earlier).filter(sent_at=None).exists()

    found = spans.get_finished_spans()
    [server] = by_kind(found, SpanKind.SERVER)
    trace_id = server.context.trace_id
    assert server.parent is None
    assert server.attributes["http.method"] == "POST"
    assert server.attributes["http.status_code"] == 302
    assert server.attributes[tracing.REQUEST_ID_ATTRIBUTE] == "desk-call-20261130-0001"
    assert server.attributes[tracing.CORRELATION_ID_ATTRIBUTE] == f"case-{case.pk}"
    assert response["X-Request-ID"] == "desk-call-20261130-0001"
    # The test's own queries (counting notices, waiting) are traces of their own.
    found = [span for span in found if span.parent is not None or span.kind == SpanKind.SERVER
             or "db.system" not in span.attributes]
    assert {span.context.trace_id for span in found} == {trace_id}

    published = by_kind(found, SpanKind.PRODUCER)
    assert [span.name for span in published] == [f"apply_async/{DELIVER}"] * owed
    assert all(span.parent.span_id == server.context.span_id for span in published)
    ran = by_kind(found, SpanKind.CONSUMER)
    assert len(ran) == owed
    publish_of = {span.context.span_id: span for span in published}
    for run in ran:
        publish = publish_of[run.parent.span_id]
        assert run.attributes["messaging.message.id"] == \
            publish.attributes["messaging.message.id"]
        assert run.attributes["celery.state"] == "SUCCESS"
    assert len({run.attributes["messaging.message.id"] for run in ran}) == owed

    run_ids = {run.context.span_id for run in ran}
    request_queries = [span for span in queries(found)
                       if span.parent.span_id == server.context.span_id]
    task_queries = [span for span in queries(found) if span.parent.span_id in run_ids]
    if connection.vendor == "postgresql":
        assert len(request_queries) >= 5  # session, user, lock, update, audit, notices
        assert all(span.attributes["db.system"] == "postgresql" for span in request_queries)
        assert any(span.name.startswith("SELECT") for span in request_queries)
        assert any(span.name.startswith("UPDATE") for span in request_queries)
        assert {span.parent.span_id for span in task_queries} == run_ids
        assert len(queries(found)) == len(request_queries) + len(task_queries)
        assert all(server.start_time <= span.start_time and span.end_time <= server.end_time
                   for span in request_queries)
        # Statements with their placeholders, never the values bound to them.
        assert all("%s" in span.attributes["db.statement"]
                   for span in request_queries if span.name == "UPDATE")
        phone = channel_of(case).address
        assert not any(phone in str(value) for span in found
                       for value in span.attributes.values())
    else:
        # SQLite has no instrumentation: the request's database work is not in
        # the trace, and nothing else passes for it.
        assert queries(found) == []

    [logged] = [record for record in request_log if record.getMessage().startswith("POST ")]
    assert logged.request_id == "desk-call-20261130-0001"
    assert logged.trace_id == format(trace_id, "032x")
    assert logged.span_id == format(server.context.span_id, "016x")
    # The JSON line an operator reads carries them, to search the trace by.
    line = json.loads(JsonFormatter().format(logged))
    assert (line["request_id"], line["trace_id"], line["span_id"]) == (
        "desk-call-20261130-0001", format(trace_id, "032x"),
        format(server.context.span_id, "016x"))


@pytest.mark.django_db
def test_a_recovery_link_secret_never_reaches_a_span(spans, client):
    handle = "VerySecretHandle0123456789abcdef"
    link = f"/recover/{handle}/"
    # With RAW_URI (gunicorn passes it) the span has http.target; without, http.url.
    first = client.get(link, RAW_URI=f"{link}?from=mail")
    second = client.get(link)
    servers = by_kind(spans.get_finished_spans(), SpanKind.SERVER)
    assert [server.attributes[tracing.REQUEST_ID_ATTRIBUTE] for server in servers] == \
        [first["X-Request-ID"], second["X-Request-ID"]]
    assert servers[0].attributes["http.target"] == "/recover/[redacted]/?from=mail"
    assert servers[1].attributes["http.url"] == "http://testserver/recover/[redacted]/"
    assert all(server.attributes["http.route"] == "recover/<str:handle>/" for server in servers)
    for span in spans.get_finished_spans():
        assert handle not in span.name
        assert not any(handle in str(value) for value in span.attributes.values())


@pytest.mark.django_db
def test_probes_are_not_traced_unless_asked(spans, client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code in (200, 503)
    assert [span for span in spans.get_finished_spans() if span.kind == SpanKind.SERVER] == []


# --- Configured start, in processes of their own -------------------------------

# What a web process, a Celery worker process and a management command each do
# at start, then what got loaded.
ENTRY_POINTS = """
import json, sys
import django.conf
from celery import signals
from recovery_console.ops import gunicorn
from recovery_console.celery import app
gunicorn.post_fork(None, None)
from recovery_console.wsgi import application
signals.worker_process_init.send(sender="test")
import manage
sys.argv = ["manage.py", "check", "--verbosity", "0"]
manage.main()
print(json.dumps({
    "modules": sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry"),
    "middleware": [m for m in django.conf.settings.MIDDLEWARE if "opentelemetry" in m],
}))
"""


def run_entry_points(**env_vars) -> dict:
    env = {name: value for name, value in os.environ.items() if not name.startswith("OTEL_")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(env_vars)
    done = subprocess.run([sys.executable, "-c", ENTRY_POINTS], cwd=ROOT, env=env,  # noqa: S603
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_without_an_endpoint_nothing_of_opentelemetry_is_even_imported():
    loaded = run_entry_points()
    assert loaded["modules"] == []
    assert loaded["middleware"] == []


def test_with_an_endpoint_every_entry_point_is_instrumented():
    # always_off: the spans are made and dropped, none is exported anywhere.
    loaded = run_entry_points(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9",
                              OTEL_TRACES_SAMPLER="always_off")
    for library in ("django", "psycopg", "celery", "urllib", "requests"):
        assert f"opentelemetry.instrumentation.{library}" in loaded["modules"]
    assert loaded["middleware"] == [
        "opentelemetry.instrumentation.django.middleware.otel_middleware._DjangoMiddleware"]


class Collector:
    """An OTLP/HTTP trace receiver: ``POST /v1/traces`` with a protobuf
    ExportTraceServiceRequest, answered with an empty protobuf response."""

    def __init__(self):
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        self.requests: list[ExportTraceServiceRequest] = []
        self.paths: list[str] = []
        received, paths = self.requests, self.paths

        class Receiver(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                paths.append((self.path, self.headers["Content-Type"]))
                received.append(ExportTraceServiceRequest.FromString(body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Receiver)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def spans(self) -> list[tuple[dict, object]]:
        """(resource attributes, span) for every span received."""
        found = []
        for request in self.requests:
            for resource_spans in request.resource_spans:
                resource = {a.key: a.value.string_value
                            for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    found.extend((resource, span) for span in scope_spans.spans)
        return found

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def attributes(span) -> dict:
    values = {}
    for attribute in span.attributes:
        value = attribute.value
        values[attribute.key] = getattr(value, value.WhichOneof("value"))
    return values


@pytest.fixture
def collector():
    found = Collector()
    yield found
    found.close()


def test_gunicorn_workers_export_their_spans_over_otlp_when_an_endpoint_is_set(collector):
    port = free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("OTEL_")}
    env.update(OTEL_EXPORTER_OTLP_ENDPOINT=collector.url, PORT=str(port), WEB_CONCURRENCY="2",
               DJANGO_SETTINGS_MODULE="recovery_console.settings")
    server = subprocess.Popen(  # noqa: S603
        [str(Path(sys.executable).parent / "gunicorn"), "-c",
         "python:recovery_console.ops.gunicorn", "recovery_console.wsgi"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True)
    try:
        wait_for_port(port, timeout=30)
        answers = []
        for number in range(4):
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/no-such-page-{number}",
                headers={"X-Request-ID": f"traced-request-{number:04d}"})
            try:
                urllib.request.urlopen(request, timeout=10)  # noqa: S310 - loopback
            except urllib.error.HTTPError as answer:
                answers.append(answer.code)
        assert answers == [404] * 4
    finally:
        server.send_signal(signal.SIGTERM)
        _, errors = server.communicate(timeout=60)
    # The workers exported what they still held as they exited.
    assert server.returncode == 0, errors
    assert collector.paths and set(collector.paths) == {("/v1/traces",
                                                         "application/x-protobuf")}
    received = [(resource, span) for resource, span in collector.spans()
                if span.kind == span.SPAN_KIND_SERVER]
    assert {resource["service.name"] for resource, _ in received} == {"recovery-console"}
    # The exporter's own posts are not traced.
    assert not any("/v1/traces" in str(value) for _, span in collector.spans()
                   for value in attributes(span).values())
    by_request = {attributes(span)[tracing.REQUEST_ID_ATTRIBUTE]: span for _, span in received}
    assert sorted(by_request) == [f"traced-request-{number:04d}" for number in range(4)]
    for number, span in enumerate(sorted(by_request.items())):
        values = attributes(span[1])
        assert values["http.status_code"] == 404
        assert values["http.target"] == f"/no-such-page-{number}"
        assert len(span[1].trace_id) == 16


def test_beat_and_a_prefork_worker_export_one_trace_across_the_broker(collector, tmp_path):
    """Beat sends its heartbeat task as it starts; a pool process of a real
    prefork worker runs it. Each process exports its own spans, the worker's
    as its pool process exits; the run span is a child of beat's publish span."""
    from django.core.cache import cache

    from recovery_console.tasks import BEAT_HEARTBEAT_KEY

    app.control.purge()
    env = {name: value for name, value in os.environ.items() if not name.startswith("OTEL_")}
    env.update(OTEL_EXPORTER_OTLP_ENDPOINT=collector.url, OTEL_SERVICE_NAME="console-jobs",
               DJANGO_SETTINGS_MODULE="recovery_console.settings")
    celery = str(Path(sys.executable).parent / "celery")
    started = []
    try:
        for arguments in (["worker", "--pool=prefork", "--concurrency=1", "-n", "traced@%h"],
                          ["beat", "--schedule", str(tmp_path / "beat-schedule")]):
            started.append(subprocess.Popen(  # noqa: S603
                [celery, "-A", "recovery_console", *arguments, "--loglevel=WARNING"],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                start_new_session=True))
        assert wait_for(lambda: cache.get(BEAT_HEARTBEAT_KEY), timeout=60), \
            "the worker never ran beat's heartbeat"
    finally:
        for process in started:
            process.send_signal(signal.SIGTERM)
        errors = [process.communicate(timeout=60)[1] for process in started]
    assert [process.returncode for process in started] == [0, 0], errors

    heartbeat = "recovery_console.tasks.record_beat_heartbeat"
    received = [span for resource, span in collector.spans()
                if resource["service.name"] == "console-jobs"]
    [published] = [span for span in received if span.name == f"apply_async/{heartbeat}"]
    [ran] = [span for span in received if span.name == f"run/{heartbeat}"]
    assert published.kind == published.SPAN_KIND_PRODUCER
    assert ran.kind == ran.SPAN_KIND_CONSUMER
    assert ran.trace_id == published.trace_id
    assert ran.parent_span_id == published.span_id
    assert attributes(ran)["messaging.message.id"] == \
        attributes(published)["messaging.message.id"]
