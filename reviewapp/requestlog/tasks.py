from celery import shared_task

from reviewapp.jobs.services import run_job

from . import importers


@shared_task(name="reviewapp.requestlog.import_traces", acks_late=True)
def import_traces(job_id: str) -> str:
    """Run an import job; re-delivery is safe (the job is claimed once, rows are stored once)."""
    job = run_job(job_id, importers.run_import)
    return job.status if job else "missing"
