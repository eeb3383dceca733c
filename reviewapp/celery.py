import os
from pathlib import Path

from celery import Celery

from reviewapp.lib import task_logs  # noqa: F401  (our log handlers, request ids in tasks)

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


@app.task(name="reviewapp.ping")
def ping(value: str = "pong") -> str:
    """Round trip used by /healthz-style checks and the test suite."""
    return value
