"""Background jobs: enqueue after commit, run once (claimed by a conditional UPDATE)."""

import logging
from collections.abc import Callable

from django.db import transaction

from reviewapp.catalog.models import App

from .models import Job

log = logging.getLogger(__name__)


def enqueue(*, kind: str, app: App | None, user, params: dict, task) -> Job:
    """Create a queued job and send `task.delay(job_id)` once the transaction commits."""
    job = Job.objects.create(
        kind=kind, app=app, created_by=user if user and user.is_authenticated else None, params=params
    )
    job_id = str(job.id)
    transaction.on_commit(lambda: task.delay(job_id))
    return job


def run_job(job_id: str, work: Callable[[Job], dict]) -> Job | None:
    """Run `work(job)` for a job this worker can claim; a finished job is left alone.

    `work` reports progress through `job.report_progress` and returns the result dict. It must
    make its own output visible atomically (a failed run leaves nothing half-done).
    """
    job = Job.objects.filter(pk=job_id).first()
    if job is None or not job.claim():
        return job
    try:
        result = work(job)
    except Exception as exc:  # the job records why; the task decides whether to retry
        log.exception("job %s (%s) failed", job.pk, job.kind)
        job.fail(f"{type(exc).__name__}: {exc}")
        return job
    job.succeed(result or {})
    return job


def eta_seconds(job: Job) -> float | None:
    """Seconds left, from the rate so far; None until there is a rate to go on."""
    from django.utils import timezone

    if not (job.started_at and job.progress_total and job.progress_done) or job.is_finished:
        return None
    elapsed = (timezone.now() - job.started_at).total_seconds()
    rate = job.progress_done / max(elapsed, 1e-6)
    return max(job.progress_total - job.progress_done, 0) / rate
