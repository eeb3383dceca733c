import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewapp.settings")

app = Celery("reviewapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="reviewapp.ping")
def ping(value: str = "pong") -> str:
    """Round trip used by /healthz-style checks and the test suite."""
    return value
