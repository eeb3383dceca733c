"""Thin Celery tasks: take ids, call one function."""

from celery import shared_task

from reviewapp.jobs.services import run_job_task

from .runs import run


@shared_task(bind=True, acks_late=True, name="judges.run_judge")
def run_judge_task(self, job_id: str) -> str:
    return run_job_task(self, job_id, run)
