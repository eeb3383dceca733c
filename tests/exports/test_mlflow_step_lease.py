"""The MLflow step holds its row with a lease as short as a job's: a heartbeat renews it while the
step works, however long one call to the tracking store takes (here, seconds waiting on a write
lock another connection holds on the store; real database and MLflow store)."""

import sqlite3
import threading
import time

import pytest
from django.db import connections
from django.utils import timezone

from reviewapp.exports import services
from reviewapp.exports.evaluation_sets import export_evaluation_set
from reviewapp.exports.mlflow_step import log_evaluation_set
from reviewapp.exports.models import EvaluationSetVersion, MlflowStatus
from reviewapp.exports.selection import Filters
from reviewapp.jobs.services import run_job
from tests.exports.helpers import reviewed

pytestmark = pytest.mark.django_db(transaction=True)

LEASE = 1  # second; the heartbeat renews it every third of that
STALL = 3  # seconds the tracking store keeps the step waiting


def store_locked(uri: str, seconds: float) -> threading.Thread:
    """A thread holding the write lock of the SQLite MLflow store at `uri` for `seconds`."""
    assert uri.startswith("sqlite:///"), uri
    store = sqlite3.connect(uri.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False)
    store.execute("BEGIN EXCLUSIVE")

    def hold():
        time.sleep(seconds)
        store.execute("COMMIT")
        store.close()

    thread = threading.Thread(target=hold)
    thread.start()
    return thread


def test_the_mlflow_step_keeps_a_short_lease_alive_while_it_works_and_releases_it_when_done(
    app, manager, settings
):
    reviewed(app, manager)
    name = f"lease-{time.time_ns()}"  # the MLflow store outlives the test database
    job = services.start_evaluation_set_export(app=app, user=manager, name=name, filters=Filters())
    version = run_job(str(job.pk), export_evaluation_set).evaluation_set_version
    settings.JOB_LEASE_SECONDS = LEASE
    samples, done = [], threading.Event()

    def watch():
        try:
            while not done.is_set():
                until = EvaluationSetVersion.objects.values_list("mlflow_lease_until", flat=True).get(
                    pk=version.pk
                )
                samples.append((timezone.now(), until))
                time.sleep(0.05)
        finally:
            connections.close_all()

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.monotonic()
    lock = store_locked(settings.MLFLOW_TRACKING_URI, STALL)
    try:
        log_evaluation_set(version_id=version.pk)
    finally:
        took = time.monotonic() - started
        done.set()
        watcher.join(10)
        lock.join(10)

    version.refresh_from_db()
    assert (version.mlflow_status, version.mlflow_attempts, version.mlflow_lease_until) == (
        MlflowStatus.DONE,
        1,
        None,
    ), version.mlflow_error
    held = [(now, until) for now, until in samples if until is not None]
    assert took > STALL, f"the step took {took:.1f} s: the store did not keep it waiting"
    assert len({until for _, until in held}) > 3, "the lease was not renewed while the step worked"
    late = [(now - until).total_seconds() for now, until in held if until <= now]
    assert not late, f"the lease ran out while the step worked ({took:.1f} s): {late}"
