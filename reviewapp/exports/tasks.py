"""Thin Celery tasks: take ids, call one function, retry with bounds."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import F, Q
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


def mlflow_retry_in(retries: int) -> int:
    """Seconds before the next try of a failed MLflow step: 30 s, 1, 2, 4, 8, 16 min, so a tracking
    store that is down gets time to come back."""
    return 30 * 2**retries


def _mlflow(task, function, **kwargs) -> str | None:
    final = task.request.retries >= MLFLOW_MAX_RETRIES
    retry_in = mlflow_retry_in(task.request.retries)
    try:
        # The row records when the retry is due: should its message be lost, the sweep sends it.
        function(final_attempt=final, retry_in=retry_in, **kwargs)
    except Busy as busy:
        # Its holder renews the lease while it lives; should it die, the sweep sends the step again.
        log.info("%s[%s] left the MLflow step to its holder: %s", task.name, task.request.id, busy)
        return "busy"
    except LeaseLost as lost:
        return let_go(task, lost)
    except Exception as exc:
        if final:
            raise
        raise task.retry(exc=exc, countdown=retry_in, max_retries=MLFLOW_MAX_RETRIES) from exc
    return None


@shared_task(bind=True, acks_late=True, name="exports.log_evaluation_set")
def log_evaluation_set_task(self, version_id: int) -> str | None:
    return _mlflow(self, log_evaluation_set, version_id=version_id)


@shared_task(bind=True, acks_late=True, name="exports.log_judge_export")
def log_judge_export_task(self, export_id: int) -> str | None:
    return _mlflow(self, log_judge_export, export_id=export_id)


def mlflow_steps_due(model, now=None):
    """Pending MLflow steps no message is likely to start, and not sent lately:

    - never claimed a while after the export (the message did not reach the broker, or was lost);
    - held by a worker that died (its lease ran out), and not sent since;
    - failed, with a retry due JOB_RESEND_SECONDS ago or more and not sent since: the retry's
      message died with the worker holding it for its countdown, or never reached a broker that
      was down.

    JOB_RESEND_SECONDS is also how long a message sent is waited for before it is sent again.
    """
    now = now or timezone.now()
    resend = now - timedelta(seconds=settings.JOB_RESEND_SECONDS)
    not_sent_lately = Q(mlflow_sent_at__isnull=True) | Q(mlflow_sent_at__lt=resend)
    released = Q(mlflow_lease_until__isnull=True)
    never_started = released & Q(mlflow_attempts=0, created_at__lt=resend) & not_sent_lately
    abandoned = Q(mlflow_lease_until__lt=now) & (
        not_sent_lately | Q(mlflow_sent_at__lt=F("mlflow_lease_until"))
    )
    retry_overdue = (
        released
        & Q(mlflow_attempts__gt=0, mlflow_next_try_at__lt=resend)
        & (not_sent_lately | Q(mlflow_sent_at__lt=F("mlflow_next_try_at")))
    )
    return model.objects.filter(mlflow_status=MlflowStatus.PENDING).filter(
        never_started | abandoned | retry_overdue
    )


@shared_task(name="exports.sweep_mlflow_steps", ignore_result=True)
def sweep_mlflow_steps() -> int:
    """Send again the MLflow steps due (on beat, every JOB_SWEEP_SECONDS); the number sent.

    A step that failed and waits for its own retry is left to it until that is long overdue.
    """
    sent = 0
    for model in (EvaluationSetVersion, JudgeExport):
        due = mlflow_steps_due(model).order_by(F("mlflow_sent_at").asc(nulls_first=True), "created_at")
        for obj in due.only("pk")[: settings.JOB_SWEEP_LIMIT]:
            if not queue_mlflow_step(obj):
                return sent
            sent += 1
    if sent:
        log.info("sent %s export MLflow steps again", sent)
    return sent
