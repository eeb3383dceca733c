from celery import shared_task

from reviewapp.jobs.models import Job
from reviewapp.jobs.services import run_job

from . import importers


@shared_task(name="reviewapp.requestlog.import_traces", bind=True, acks_late=True, max_retries=30)
def import_traces(self, job_id: str) -> str:
    """Run an import job; re-delivery is safe (the job is claimed once, rows are stored once)."""
    job = run_job(job_id, importers.run_import)
    if job is not None and job.status == Job.Status.RUNNING:
        # Another worker holds it, or one that died moments ago: look again once its heartbeat
        # would have gone stale, so a lost worker's job is finished rather than forgotten.
        raise self.retry(countdown=75)
    return job.status if job else "missing"
