from celery import shared_task

from reviewapp.jobs.services import run_job_task

from .services import run_import


@shared_task(name="reviewapp.requestlog.import_traces", bind=True, acks_late=True)
def import_traces(self, job_id: str) -> str:
    """Run an import job; re-delivery is safe (the job is claimed once, rows are stored once)."""
    return run_job_task(self, job_id, run_import)
