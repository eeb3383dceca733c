"""Thin Celery tasks: take a job id, run one function."""

from celery import shared_task

from reviewapp.jobs.services import run_job_task


@shared_task(bind=True, acks_late=True, name="comparisons.replay_pairs")
def replay_pairs_task(self, job_id: str) -> str:
    from .services import replay_pairs

    return run_job_task(self, job_id, replay_pairs)


@shared_task(bind=True, acks_late=True, name="comparisons.log_preferences")
def log_preferences_task(self, job_id: str) -> str:
    from .mlflow_export import log_preferences

    return run_job_task(self, job_id, log_preferences)
