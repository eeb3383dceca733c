"""Thin Celery tasks: take ids, call one function."""

from celery import shared_task

from reviewapp.jobs.services import run_job_task

from . import mlflow_write, online, tuning
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


@shared_task(name="judges.write_back", ignore_result=True)
def write_back_task(result_ids: list[int]) -> dict:
    return mlflow_write.write_back(result_ids)


@shared_task(name="judges.sweep_write_back", ignore_result=True)
def sweep_write_back_task() -> int:
    return mlflow_write.sweep()
