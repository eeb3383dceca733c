"""Background jobs: enqueue after commit, run once (claimed by a conditional UPDATE)."""

import logging
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from reviewapp.catalog.models import App

from .leases import Busy, LeaseLost, let_go, retry_while_busy
from .models import Job

log = logging.getLogger(__name__)

# A task whose job another worker holds looks again when that worker's lease would run out;
# this many times (each at least a lease apart) before it leaves the job to the live holder.
BUSY_MAX_RETRIES = 40


@transaction.atomic
def enqueue(*, kind: str, app: App | None, user, params: dict, task) -> Job:
    """Create a queued job and send `task.delay(job_id)` once the transaction commits.

    A worker can thus never get the task before the job row exists.
    """
    job = Job.objects.create(
        kind=kind, app=app, created_by=user if user and user.is_authenticated else None, params=params
    )
    job_id = str(job.id)
    transaction.on_commit(lambda: task.delay(job_id))
    return job


def run_job(job_id: str, work: Callable[[Job], dict]) -> Job | None:
    """Run `work(job)` for a job this worker can claim; a finished job is left alone.

    Raises Busy when another worker holds the job, and LeaseLost when another worker took it
    over meanwhile (it is theirs then: this run records nothing). `work` reports progress through
    `job.report_progress` (which renews the lease, or raises LeaseLost) and returns the result
    dict. It must make its own output visible atomically (a failed run leaves nothing half-done).
    """
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        return None
    if not job.claim():
        job.refresh_from_db()
        if job.is_finished:
            return job
        raise Job.LEASE.busy(job, f"job {job.pk}")
    try:
        result = work(job)
    except LeaseLost:
        raise
    except Exception as exc:  # the job records why; the task decides whether to retry
        # Recorded first: a run that was taken over (LeaseLost here) has no failure to report.
        job.fail(f"{type(exc).__name__}: {exc}")
        log.exception("job %s (%s) failed", job.pk, job.kind)
        return job
    job.succeed(result or {})
    return job


def run_job_task(task, job_id: str, work: Callable[[Job], dict]) -> str:
    """The body of a job's Celery task: run the job, or try again once its holder's lease is over."""
    try:
        job = run_job(job_id, work)
    except Busy as busy:
        return retry_while_busy(task, busy, max_retries=BUSY_MAX_RETRIES)
    except LeaseLost as lost:
        return let_go(task, lost)
    return job.status if job else "missing"


def eta_seconds(job: Job) -> float | None:
    """Seconds left, from the rate so far; None until there is a rate to go on."""
    if not (job.started_at and job.progress_total and job.progress_done) or job.is_finished:
        return None
    elapsed = (timezone.now() - job.started_at).total_seconds()
    rate = job.progress_done / max(elapsed, 1e-6)
    return max(job.progress_total - job.progress_done, 0) / rate
