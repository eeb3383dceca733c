"""Thin Celery tasks: take ids, call one function, retry with bounds."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from reviewapp.jobs.leases import Busy, LeaseLost, let_go
from reviewapp.jobs.services import run_job_task

from .evaluation_sets import export_evaluation_set
from .judge_examples import export_judge_examples
from .mlflow_step import log_evaluation_set, log_judge_export, queue_mlflow_step
from .models import EvaluationSetVersion, JudgeExport, MlflowStatus

log = logging.getLogger(__name__)

MLFLOW_MAX_RETRIES = 6


@shared_task(bind=True, acks_late=True, name="exports.export_evaluation_set")
def export_evaluation_set_task(self, job_id: str) -> str:
    return run_job_task(self, job_id, export_evaluation_set)


@shared_task(bind=True, acks_late=True, name="exports.export_judge_examples")
def export_judge_examples_task(self, job_id: str) -> str:
    return run_job_task(self, job_id, export_judge_examples)


def _mlflow(task, function, **kwargs) -> str | None:
    final = task.request.retries >= MLFLOW_MAX_RETRIES
    try:
        function(final_attempt=final, **kwargs)
    except Busy as busy:
        # Its holder renews the lease while it lives; should it die, the sweep sends the step again.
        log.info("%s[%s] left the MLflow step to its holder: %s", task.name, task.request.id, busy)
        return "busy"
    except LeaseLost as lost:
        return let_go(task, lost)
    except Exception as exc:
        if final:
            raise
        # 30 s, 1, 2, 4, 8, 16 min: a tracking store that is down gets time to come back.
        raise task.retry(
            exc=exc, countdown=30 * 2**task.request.retries, max_retries=MLFLOW_MAX_RETRIES
        ) from exc
    return None


@shared_task(bind=True, acks_late=True, name="exports.log_evaluation_set")
def log_evaluation_set_task(self, version_id: int) -> str | None:
    return _mlflow(self, log_evaluation_set, version_id=version_id)


@shared_task(bind=True, acks_late=True, name="exports.log_judge_export")
def log_judge_export_task(self, export_id: int) -> str | None:
    return _mlflow(self, log_judge_export, export_id=export_id)


def mlflow_steps_due(model, now=None):
    """Pending MLflow steps no message is likely to start: never claimed a while after the export
    (the message did not reach the broker, or was lost there), or held by a worker that died."""
    now = now or timezone.now()
    resend = now - timedelta(seconds=settings.JOB_RESEND_SECONDS)
    never_started = Q(mlflow_attempts=0, mlflow_lease_until__isnull=True, created_at__lt=resend)
    return model.objects.filter(mlflow_status=MlflowStatus.PENDING).filter(
        never_started | Q(mlflow_lease_until__lt=now)
    )


@shared_task(name="exports.sweep_mlflow_steps", ignore_result=True)
def sweep_mlflow_steps() -> int:
    """Send again the MLflow steps due (on beat, every JOB_SWEEP_SECONDS); the number sent.

    A step that failed and waits for its own retry is released (no lease) and left to it.
    """
    sent = 0
    for model in (EvaluationSetVersion, JudgeExport):
        for obj in mlflow_steps_due(model).order_by("created_at")[: settings.JOB_SWEEP_LIMIT]:
            if not queue_mlflow_step(obj):
                return sent
            sent += 1
    return sent
