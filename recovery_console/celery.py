import os

from celery import Celery, signals

from recovery_console.ops import tracing

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "recovery_console.settings")

app = Celery("recovery_console")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# Traces (when an OTLP endpoint is set) start in each pool process after the
# fork and in beat, never in the prefork parent, which runs no task.
@signals.worker_process_init.connect(weak=False)
def trace_worker_process(**kwargs) -> None:
    tracing.start()


@signals.beat_init.connect(weak=False)
def trace_beat(**kwargs) -> None:
    tracing.start()


@signals.worker_process_shutdown.connect(weak=False)
def flush_worker_process_traces(**kwargs) -> None:
    tracing.shutdown()
