"""Thin Celery tasks: take ids, call one function, retry with bounds."""

from celery import shared_task
from django.utils import timezone

from reviewapp.jobs.models import Job
from reviewapp.jobs.services import run_job

from . import services

# A job another worker holds (fresh heartbeat) is tried again later; a dead worker's job is
# claimable once its heartbeat is stale (Job.claim), so the retry then finishes it.
BUSY_RETRY_SECONDS = 15
BUSY_MAX_RETRIES = 40
MLFLOW_MAX_RETRIES = 6


def _run(task, job_id: str, work) -> str:
    job = run_job(job_id, work)
    if job is not None and job.status == Job.Status.RUNNING and job.heartbeat_at:
        # Not ours to run now: someone else is (or was, until it died) working on it.
        age = (timezone.now() - job.heartbeat_at).total_seconds()
        raise task.retry(countdown=max(BUSY_RETRY_SECONDS, int(60 - age) + 1), max_retries=BUSY_MAX_RETRIES)
    return job.status if job else "missing"


@shared_task(bind=True, acks_late=True, name="exports.export_evaluation_set")
def export_evaluation_set_task(self, job_id: str) -> str:
    return _run(self, job_id, services.export_evaluation_set)


@shared_task(bind=True, acks_late=True, name="exports.export_judge_examples")
def export_judge_examples_task(self, job_id: str) -> str:
    return _run(self, job_id, services.export_judge_examples)


def _mlflow(task, function, **kwargs) -> None:
    final = task.request.retries >= MLFLOW_MAX_RETRIES
    try:
        function(final_attempt=final, **kwargs)
    except Exception as exc:
        if final:
            raise
        # 30 s, 1, 2, 4, 8, 16 min: a tracking store that is down gets time to come back.
        raise task.retry(
            exc=exc, countdown=30 * 2**task.request.retries, max_retries=MLFLOW_MAX_RETRIES
        ) from exc


@shared_task(bind=True, acks_late=True, name="exports.log_evaluation_set")
def log_evaluation_set_task(self, version_id: int) -> None:
    _mlflow(self, services.log_evaluation_set, version_id=version_id)


@shared_task(bind=True, acks_late=True, name="exports.log_judge_export")
def log_judge_export_task(self, export_id: int) -> None:
    _mlflow(self, services.log_judge_export, export_id=export_id)
