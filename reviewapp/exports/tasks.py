"""Thin Celery tasks: take ids, call one function, retry with bounds."""

from celery import shared_task

from reviewapp.jobs.leases import Busy, LeaseLost, let_go, retry_while_busy
from reviewapp.jobs.services import run_job_task

from .evaluation_sets import export_evaluation_set
from .judge_examples import export_judge_examples
from .mlflow_step import log_evaluation_set, log_judge_export

MLFLOW_MAX_RETRIES = 6
# Another worker on the same MLflow step renews its lease as it goes; look again when it would end.
MLFLOW_BUSY_MAX_RETRIES = 20


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
        return retry_while_busy(task, busy, max_retries=MLFLOW_BUSY_MAX_RETRIES)
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
