"""Traces with OpenTelemetry, exported over OTLP/HTTP, only when an endpoint is set.

With ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``)
in the environment, ``start()`` gives the process a tracer provider with a
batch processor and the OTLP/HTTP exporter, and instruments Django (one server
span per request), psycopg (one span per query), Celery (a span where a task
is published and one where it runs, linked across the broker), urllib (restore
providers, identity verification, the monitoring webhook) and requests. The
exporter, the batch processor and the sampler read the standard ``OTEL_*``
variables themselves.

Without it, ``start()`` returns at once: no OpenTelemetry module is imported,
no middleware added, nothing patched.

Each process starts its own after any fork, so no batch thread or exporter
connection is shared between processes: gunicorn's ``post_fork`` hook
(``ops/gunicorn.py``), Celery's ``worker_process_init`` and ``beat_init``
(``recovery_console/celery.py``) and ``manage.py`` for runserver and the other
commands. ``shutdown()`` flushes what is still queued (gunicorn's
``worker_exit``, Celery's ``worker_process_shutdown``; at exit otherwise).

Links: the server span carries the console's request id and case correlation
id; a task's spans carry the task id (``messaging.message.id``); every log
record made while a span is current gets ``trace_id`` and ``span_id``. Paths
that hold a secret (recovery and attestation links) are redacted in span
attributes as they are in the logs.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

from .logs import redact

DEFAULT_SERVICE_NAME = "recovery-console"
REQUEST_ID_ATTRIBUTE = "recovery_console.request_id"
CORRELATION_ID_ATTRIBUTE = "recovery_console.correlation_id"
# Probed every few seconds by the platform and the scraper: no trace each time,
# unless the operator lists the excluded URLs themselves.
PROBE_URLS = "/healthz$,/readyz$,/metrics$"
# Span attributes holding the request's path or URL (older and newer HTTP
# semantic conventions), which may hold a recovery link's secret.
_URL_ATTRIBUTES = ("http.target", "http.url", "url.path", "url.query", "url.full")
# Commands that serve for as long as they run: their requests are the traces,
# not the command.
_SERVING_COMMANDS = {"runserver", "demo_relying_party"}

_provider = None
_previous_record_factory = None


def enabled() -> bool:
    """Whether this process should trace: an OTLP endpoint is configured and
    the SDK is not switched off."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
                or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def start() -> bool:
    """Trace this process when an OTLP endpoint is configured; once per
    process (a later call, or one in a child forked after it, does nothing).
    Returns whether tracing is on."""
    global _provider
    if _provider is not None:
        return True
    if not enabled():
        return False
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "recovery_console.settings")
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    service = os.environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME
    # The sampler comes from OTEL_TRACES_SAMPLER (parent-based, always on by default).
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    instrument(provider)
    _provider = provider
    return True


def shutdown() -> None:
    """Export what the batch processor still holds and stop it (a process
    about to exit). Safe to call when tracing is off or already shut down."""
    global _provider
    provider, _provider = _provider, None
    if provider is not None:
        provider.shutdown()


def instrument(provider) -> None:
    """Instrument Django, psycopg, Celery, urllib and requests to report to
    ``provider``, and stamp log records with the current trace. Django's
    middleware is added to the settings, so this runs before the WSGI handler
    loads its middleware."""
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.instrumentation.urllib import URLLibInstrumentor

    excluded = None
    if not (os.environ.get("OTEL_PYTHON_DJANGO_EXCLUDED_URLS")
            or os.environ.get("OTEL_PYTHON_EXCLUDED_URLS")):
        excluded = PROBE_URLS
    DjangoInstrumentor().instrument(tracer_provider=provider, excluded_urls=excluded,
                                    request_hook=_redact_url_attributes,
                                    response_hook=_link_request_ids)
    PsycopgInstrumentor().instrument(tracer_provider=provider)
    CeleryInstrumentor().instrument(tracer_provider=provider)
    URLLibInstrumentor().instrument(tracer_provider=provider)
    RequestsInstrumentor().instrument(tracer_provider=provider)
    _stamp_log_records()


def uninstrument() -> None:
    """Undo ``instrument``: the libraries and the log records as they were."""
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.instrumentation.urllib import URLLibInstrumentor

    for instrumentor in (DjangoInstrumentor, PsycopgInstrumentor, CeleryInstrumentor,
                         URLLibInstrumentor, RequestsInstrumentor):
        instrumentor().uninstrument()
    _unstamp_log_records()


@contextlib.contextmanager
def command_span(argv: list[str]) -> Iterator[None]:
    """One span around a management command, so its queries and the tasks
    it sends make one trace; none for commands that serve requests, whose
    requests are traced one by one, nor when tracing is off."""
    command = argv[1] if len(argv) > 1 else "help"
    if _provider is None or command in _SERVING_COMMANDS:
        yield
        return
    tracer = _provider.get_tracer(__name__)
    with tracer.start_as_current_span(f"manage.py {command}",
                                      attributes={"recovery_console.command": command}):
        yield


def _redact_url_attributes(span, request) -> None:
    """The request's path and URL on the server span, with the secret part of
    recovery and attestation links removed (as in the request log)."""
    attributes = getattr(span, "attributes", None)
    if not span.is_recording() or not attributes:
        return
    for name in _URL_ATTRIBUTES:
        value = attributes.get(name)
        if isinstance(value, str) and redact(value) != value:
            span.set_attribute(name, redact(value))


def _link_request_ids(span, request, response) -> None:
    """The console's request id (``X-Request-ID``, the ``request_id`` of every
    log line of the request) and the case correlation id on the server span.
    Set on the response: the request-id middleware runs inside the span."""
    if not span.is_recording():
        return
    request_id = getattr(request, "request_id", None)
    if request_id:
        span.set_attribute(REQUEST_ID_ATTRIBUTE, request_id)
    correlation_id = getattr(request, "correlation_id", None)
    if correlation_id:
        span.set_attribute(CORRELATION_ID_ATTRIBUTE, correlation_id)


def _stamp_log_records() -> None:
    """Every log record made while a span is current carries ``trace_id`` and
    ``span_id`` (hex, as trace backends show them). A record factory rather
    than a filter, so it holds whatever handlers the logging set-up has."""
    global _previous_record_factory
    if _previous_record_factory is not None:
        return
    from opentelemetry import trace

    previous = _previous_record_factory = logging.getLogRecordFactory()

    def record_with_trace(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        return record

    logging.setLogRecordFactory(record_with_trace)


def _unstamp_log_records() -> None:
    global _previous_record_factory
    if _previous_record_factory is not None:
        logging.setLogRecordFactory(_previous_record_factory)
        _previous_record_factory = None
