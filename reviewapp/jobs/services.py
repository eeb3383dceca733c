"""Background jobs: a row first, then a message; run once (claimed by a conditional UPDATE).

The row is what counts. Its message is sent once the row is committed, in one quick try that
never fails the request (jobs.sending); the jobs sweep sends it again when it did not reach the
broker, may have been lost there, or when the job's worker died (its heartbeat stopped). A
message for a job another worker holds, or has finished, does nothing.
"""

import logging
from collections.abc import Callable
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import F, Q
from django.utils import timezone

from reviewapp.catalog.models import App

from .leases import Busy, LeaseLost, let_go
from .models import Cancelled, Job
from .sending import send

log = logging.getLogger(__name__)


@transaction.atomic
def enqueue(*, kind: str, app: App | None, user, params: dict, task) -> Job:
    """Create a queued job and send its task once the transaction commits.

    A worker can thus never get the task before the job row exists. The request never waits on
    the broker: if the send fails, the row stays queued and the sweep sends it.
    """
    job = Job.objects.create(
        kind=kind,
        app=app,
        created_by=user if user and user.is_authenticated else None,
        params=params,
        task=task.name,
    )
    transaction.on_commit(lambda: send_job(job, task))
    return job


def send_job(job: Job, task=None) -> bool:
    """Send the job's task (`job.task` unless given), and note when it reached the broker.

    Never raises: it runs once the job is committed, so an error here would answer a request
    whose job was accepted with a failure (and its client would start it again).
    """
    task = task or current_app.tasks.get(job.task)
    if task is None:
        log.error("job %s cannot be sent: no task is named %r", job.pk, job.task)
        return False
    sent = send(task, (str(job.pk),))
    if sent:
        job.sent_at = timezone.now()
        try:
            Job.objects.filter(pk=job.pk).update(sent_at=job.sent_at)
        except DatabaseError as exc:
            # Sent all the same: the sweep sends it once more, and the claim makes that harmless.
            log.warning("job %s was sent, but its sent_at was not saved: %s", job.pk, exc)
    return sent


def due_for_sending(now=None):
    """Unfinished jobs that no message is likely to start: never sent, sent long ago while still
    queued (lost with a broker restarted without persistence), or running with a lease that ran
    out (the worker died) and not sent since."""
    now = now or timezone.now()
    resend = now - timedelta(seconds=settings.JOB_RESEND_SECONDS)
    not_sent_lately = Q(sent_at__isnull=True) | Q(sent_at__lt=resend)
    abandoned = Q(status=Job.Status.RUNNING, lease_until__lt=now) & (
        not_sent_lately | Q(sent_at__lt=F("lease_until"))
    )
    queued = Q(status=Job.Status.QUEUED) & not_sent_lately
    return Job.objects.filter(status__in=[Job.Status.QUEUED, Job.Status.RUNNING]).filter(queued | abandoned)


def sweep(limit: int | None = None) -> int:
    """Send the jobs due for sending (the oldest sends first), at most `limit`; the number sent.

    Stops at the first send that fails: the broker is down, and the next sweep tries again. A job
    of no task this worker knows (none recorded, or one since renamed or removed) would never
    run: it fails, saying why.
    """
    limit = limit or settings.JOB_SWEEP_LIMIT
    fail_unknown_tasks()
    jobs = due_for_sending().filter(task__in=list(current_app.tasks.keys()))
    sent = 0
    for job in jobs.order_by(F("sent_at").asc(nulls_first=True), "created_at").only("pk", "task")[:limit]:
        if not send_job(job):
            break
        sent += 1
    if sent:
        log.info("sent %s jobs again", sent)
    return sent


def fail_unknown_tasks() -> int:
    """Fail the jobs due for sending whose task no worker of this version runs; how many."""
    unknown = due_for_sending().exclude(task__in=list(current_app.tasks))
    failed = 0
    for job in unknown[: settings.JOB_SWEEP_LIMIT]:
        what = f"no task is named {job.task!r}" if job.task else "it names no task to run it"
        log.error("job %s (%s) cannot run: %s; it is marked failed", job.pk, job.kind, what)
        try:
            job.fail(f"This job cannot run: {what}. Start it again.")
        except LeaseLost:
            continue  # a worker that knows the task claimed it meanwhile
        failed += 1
    return failed


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
        with job.heartbeat():
            result = work(job)
    except LeaseLost:
        raise
    except Cancelled:
        job.cancelled({"stopped_at": job.progress_done})
        return job
    except Exception as exc:  # the job records why; the task decides whether to retry
        # Recorded first: a run that was taken over (LeaseLost here) has no failure to report.
        job.fail(f"{type(exc).__name__}: {exc}")
        log.exception("job %s (%s) failed", job.pk, job.kind)
        return job
    job.succeed(result or {})
    return job


class AlreadyFinished(Exception):
    pass


def cancel_job(job: Job) -> Job:
    """Stop a job: a queued one at once (no worker will claim it then), a running one at its next
    progress report, keeping what it made so far. AlreadyFinished when there is nothing to stop."""
    queued = Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED).update(
        status=Job.Status.CANCELLED, cancel_requested=True, finished_at=timezone.now()
    )
    if not queued and not Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(
        cancel_requested=True
    ):
        job.refresh_from_db()
        raise AlreadyFinished(f"The job has finished ({job.status}): there is nothing to cancel.")
    job.refresh_from_db()
    return job


def run_job_task(task, job_id: str, work: Callable[[Job], dict]) -> str:
    """The body of a job's Celery task: run the job, unless another worker holds it.

    That worker renews its lease while it lives; should it die, the sweep sends the job again
    once the lease is out. So this message has nothing to wait for: it is dropped.
    """
    try:
        job = run_job(job_id, work)
    except Busy as busy:
        log.info("%s[%s] left the job to its holder: %s", task.name, task.request.id, busy)
        return "busy"
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
