import os
from pathlib import Path

from celery import Celery, signals

from reviewapp.lib import task_logs  # noqa: F401  (our log handlers, request ids in tasks)
from reviewapp.monitoring import metrics

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewapp.settings")

app = Celery("reviewapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

_FILESYSTEM_FOLDERS = (
    "data_folder_in",
    "data_folder_out",
    "processed_folder",
    "control_folder",
    "bad_folder",
)


def make_broker_folders(conf) -> None:
    """Make the folders of the embedded filesystem broker; nothing to do for Redis.

    Done by the processes that use the broker (when Celery is configured, and by `manage.py
    serve` before it starts anything), never by importing settings.
    """
    if not str(conf.broker_url or "").startswith("filesystem"):
        return
    options = conf.broker_transport_options or {}
    for key in _FILESYSTEM_FOLDERS:
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)


@app.on_after_configure.connect
def _make_broker_folders(sender, source, **kwargs) -> None:
    make_broker_folders(source)


@signals.celeryd_init.connect(dispatch_uid="reviewapp.metrics.start")
def _start_metrics(**kwargs) -> None:
    # Before the pool starts: its processes count into this worker's own folder (shared with the
    # web's /metrics through METRICS_DIR).
    metrics.start_server()


@signals.worker_process_shutdown.connect(dispatch_uid="reviewapp.metrics.exited")
def _pool_process_exited(pid=None, **kwargs) -> None:
    metrics.process_exited(pid)


@app.task(name="reviewapp.ping")
def ping(value: str = "pong") -> str:
    """Round trip used by /healthz-style checks and the test suite."""
    return value
