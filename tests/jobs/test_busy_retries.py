"""A task that finds its work held by another worker waits for the lease: an INFO retry, never an
ERROR, and it takes the work over once the lease runs out (a real Celery worker throughout)."""

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from reviewapp.exports import services
from reviewapp.exports.models import EvaluationSetVersion, MlflowStatus
from reviewapp.exports.selection import Filters
from reviewapp.exports.tasks import log_evaluation_set_task
from reviewapp.feedback.models import MlflowSync
from reviewapp.feedback.tasks import sync_to_mlflow
from reviewapp.jobs.models import Job
from reviewapp.jobs.services import BUSY_MAX_RETRIES
from reviewapp.requestlog.tasks import import_traces
from tests.exports.helpers import reviewed, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.timeout(120)]


def soon(seconds: float = 5):
    """A lease that a worker which has just died leaves behind."""
    return timezone.now() + timedelta(seconds=seconds)


def errors(caplog) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]


def retries(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "held by another worker" in r.getMessage()]


def test_a_job_held_by_a_dead_worker_is_waited_for_quietly_then_taken_over(
    celery_worker, app, tmp_path, caplog
):
    caplog.set_level(logging.INFO)
    path = tmp_path / "rows.jsonl"
    path.write_text(
        '{"request_id": "00000000-0000-0000-0000-000000000001", "request": "hi", "response": "hello"}\n'
    )
    job = Job.objects.create(
        kind="import_traces",
        app=app,
        params={"source": "jsonl", "path": str(path)},
        status=Job.Status.RUNNING,
        lease_until=soon(),
        attempts=1,
    )

    import_traces.delay(str(job.pk))

    wait_until(lambda: Job.objects.get(pk=job.pk).status == Job.Status.SUCCEEDED, "the job to be taken over")
    job.refresh_from_db()
    assert (job.attempts, job.result["imported"]) == (2, 1)
    [retry] = retries(caplog)
    assert retry.levelno == logging.INFO and retry.exc_info is None
    assert errors(caplog) == []


def test_a_write_back_held_by_another_worker_is_waited_for_quietly(celery_worker, app, manager, caplog):
    caplog.set_level(logging.INFO)
    assessment = reviewed(app, manager).assessments.get()
    sync = MlflowSync.objects.create(assessment=assessment, locked_until=soon())

    sync_to_mlflow.delay(sync.pk)

    # The request has no trace, so once the lease is over the write-back is done at once: skipped.
    wait_until(lambda: MlflowSync.objects.get(pk=sync.pk).status == "skipped", "the write-back")
    assert MlflowSync.objects.get(pk=sync.pk).locked_until is None
    assert retries(caplog) and all(r.levelno == logging.INFO for r in retries(caplog))
    assert errors(caplog) == []


def test_an_export_mlflow_step_held_by_another_worker_is_waited_for_quietly(
    celery_worker, app, manager, caplog
):
    caplog.set_level(logging.INFO)
    reviewed(app, manager, "positive")
    job = services.start_evaluation_set_export(app=app, user=manager, name="golden", filters=Filters())
    wait_until(lambda: EvaluationSetVersion.objects.filter(job=job).exists(), "the export")
    version = EvaluationSetVersion.objects.get(job=job)
    wait_until(lambda: _mlflow_status(version) == MlflowStatus.DONE, "its own MLflow step")
    # As if a worker had died in the middle of a second run of the step.
    EvaluationSetVersion.objects.filter(pk=version.pk).update(
        mlflow_status=MlflowStatus.PENDING, mlflow_lease_until=soon()
    )
    caplog.clear()

    log_evaluation_set_task.delay(version.pk)

    wait_until(lambda: _mlflow_status(version) == MlflowStatus.DONE, "the MLflow step to be taken over")
    version.refresh_from_db()
    assert (version.mlflow_attempts, version.mlflow_lease_until) == (2, None)
    assert retries(caplog) and all(r.levelno == logging.INFO for r in retries(caplog))
    assert errors(caplog) == []


def test_a_task_that_has_waited_long_enough_leaves_the_job_to_its_live_holder(celery_worker, app, caplog):
    caplog.set_level(logging.INFO)
    job = Job.objects.create(
        kind="import_traces", app=app, status=Job.Status.RUNNING, lease_until=soon(60), attempts=1
    )

    result = import_traces.apply_async((str(job.pk),), retries=BUSY_MAX_RETRIES)

    assert result.get(timeout=30) == "busy"
    job.refresh_from_db()
    assert (job.status, job.attempts) == (Job.Status.RUNNING, 1)
    assert [r.levelno for r in caplog.records if "left the work to its holder" in r.getMessage()] == [
        logging.INFO
    ]
    assert errors(caplog) == []


def _mlflow_status(version) -> str:
    return EvaluationSetVersion.objects.values_list("mlflow_status", flat=True).get(pk=version.pk)
