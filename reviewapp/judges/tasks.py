"""Thin Celery tasks: take ids, call one function."""

from celery import shared_task

from reviewapp.jobs.services import run_job_task

from . import online, tuning
from .runs import run


@shared_task(bind=True, acks_late=True, name="judges.run_judge")
def run_judge_task(self, job_id: str) -> str:
    return run_job_task(self, job_id, run)


@shared_task(bind=True, acks_late=True, name="judges.judge_turn", ignore_result=True)
def judge_turn_task(self, judge_id: int, request_id: str) -> str:
    return online.judge_turn(judge_id, request_id)


@shared_task(bind=True, acks_late=True, name="judges.tune_judge")
def tune_judge_task(self, job_id: str) -> str:
    return run_job_task(self, job_id, tuning.run)
