"""Work held by another worker: a job or an export's MLflow step is left to its holder at once
(the sweep sends it again once the holder's lease has run out: it died), a write-back waits for
the lease with INFO retries; never an ERROR (a real Celery worker throughout)."""

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from reviewapp.exports import services
from reviewapp.exports.models import EvaluationSetVersion, MlflowStatus
from reviewapp.exports.selection import Filters
from reviewapp.exports.tasks import log_evaluation_set_task, sweep_mlflow_steps
from reviewapp.feedback.models import MlflowSync
from reviewapp.feedback.tasks import sync_to_mlflow
from reviewapp.jobs import services as jobs
from reviewapp.jobs.models import Job
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


def test_a_job_held_by_a_dead_worker_is_left_at_once_then_sent_again_by_the_sweep_and_taken_over(
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
        task=import_traces.name,
        status=Job.Status.RUNNING,
        lease_until=soon(3),
        attempts=1,
        sent_at=timezone.now() - timedelta(seconds=10),
    )

    assert import_traces.delay(str(job.pk)).get(timeout=30) == "busy"
    assert jobs.sweep() == 0  # its holder may still be alive

    wait_until(lambda: timezone.now() > Job.objects.get(pk=job.pk).lease_until, "the lease to run out")
    assert jobs.sweep() == 1
    wait_until(lambda: Job.objects.get(pk=job.pk).status == Job.Status.SUCCEEDED, "the job to be taken over")
    job.refresh_from_db()
    assert (job.attempts, job.result["imported"]) == (2, 1)
    [left] = [r for r in caplog.records if "left the job to its holder" in r.getMessage()]
    assert left.levelno == logging.INFO and left.exc_info is None
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


def test_an_export_mlflow_step_held_by_a_dead_worker_is_left_at_once_then_swept_and_taken_over(
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
        mlflow_status=MlflowStatus.PENDING, mlflow_lease_until=soon(3)
    )
    caplog.clear()

    assert log_evaluation_set_task.delay(version.pk).get(timeout=30) == "busy"
    assert sweep_mlflow_steps() == 0  # its holder may still be alive

    wait_until(lambda: timezone.now() > _lease(version), "the lease to run out")
    assert sweep_mlflow_steps() == 1
    wait_until(lambda: _mlflow_status(version) == MlflowStatus.DONE, "the MLflow step to be taken over")
    version.refresh_from_db()
    assert (version.mlflow_attempts, version.mlflow_lease_until) == (2, None)
    assert [r.levelno for r in caplog.records if "left the MLflow step to its holder" in r.getMessage()] == [
        logging.INFO
    ]
    assert errors(caplog) == []


def _lease(version):
    return EvaluationSetVersion.objects.values_list("mlflow_lease_until", flat=True).get(pk=version.pk)


def _mlflow_status(version) -> str:
    return EvaluationSetVersion.objects.values_list("mlflow_status", flat=True).get(pk=version.pk)
