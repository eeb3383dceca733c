import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from reviewapp.accounts.models import User
from reviewapp.catalog.models import App

from .leases import Heartbeat, Lease


class Job(models.Model):
    """A background job (import, export, sync) with progress, run by a Celery task.

    The row is the job; the task's message only wakes a worker up. It is sent once the row is
    committed, and the jobs sweep sends it again when it was lost (`sent_at` long ago, or never)
    or when the job's worker died. A worker claims the job with a conditional UPDATE (`claim`) and
    holds it for a lease its heartbeat renews (`heartbeat`), so a repeated message never runs a job
    twice and a dead worker's job is taken over once its lease has run out.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    LEASE = Lease("JOB_LEASE_SECONDS")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=50)
    app = models.ForeignKey(App, models.CASCADE, null=True, blank=True, related_name="jobs")
    created_by = models.ForeignKey(User, models.SET_NULL, null=True, blank=True, related_name="jobs")
    created_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    params = models.JSONField(default=dict, blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    # The worker running the job holds it until then (see LEASE); its heartbeat renews it.
    lease_until = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True)
    # The Celery task that runs it, and when its message last reached the broker (None: never).
    task = models.CharField(max_length=200, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Someone asked a running job to stop: its holder stops at its next progress report.
    cancel_requested = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The sweep's question, "unfinished and not sent lately", answered from the index alone.
            models.Index(
                fields=["sent_at"],
                condition=models.Q(status__in=["queued", "running"]),
                name="job_unfinished_sent_at",
            )
        ]

    def claim(self) -> bool:
        """Take the job for this worker: queued, or running but abandoned by a dead worker."""
        unfinished = Job.objects.filter(pk=self.pk, status__in=[self.Status.QUEUED, self.Status.RUNNING])
        claimed = self.LEASE.claim(unfinished, status=self.Status.RUNNING, started_at=timezone.now())
        if claimed:
            self.refresh_from_db()  # `attempts` is now this worker's claim, which its writes check
        return claimed

    # The writes below are the holder's: each raises LeaseLost once another worker has taken the
    # job over (a later claim, so other `attempts`), and then changes nothing.

    def heartbeat(self) -> Heartbeat:
        """Renews this holder's lease in the background while it works (a context manager), until
        the work reports no progress for JOB_STALL_SECONDS: a hung job is then taken over."""
        held = Job.objects.filter(pk=self.pk, status=self.Status.RUNNING)
        self._heartbeat = Heartbeat(self.LEASE, held, self.attempts, stall_after=settings.JOB_STALL_SECONDS)
        return self._heartbeat

    def report_progress(self, done: int, total: int | None = None) -> None:
        """Save the progress, and renew the lease: the worker is alive and the work moves. Raises
        Cancelled when someone asked the job to stop (what the work made so far is its own)."""
        changes = {"progress_done": done, **self.LEASE.renewed()}
        if total is not None:
            changes["progress_total"] = total
        self.LEASE.renew(self._held(), self.attempts, **changes)
        self._set(**changes)
        if heartbeat := getattr(self, "_heartbeat", None):
            heartbeat.progressed()
        if self._held().filter(cancel_requested=True).exists():
            raise Cancelled(f"job {self.pk} was cancelled")

    def cancelled(self, result: dict | None = None) -> None:
        self._finish(status=self.Status.CANCELLED, result=result or {}, finished_at=timezone.now())

    def succeed(self, result: dict) -> None:
        self._finish(status=self.Status.SUCCEEDED, result=result, finished_at=timezone.now())

    def fail(self, error: str) -> None:
        self._finish(status=self.Status.FAILED, error=error, finished_at=timezone.now())

    def _held(self):
        return Job.objects.filter(pk=self.pk)

    def _finish(self, **changes) -> None:
        self.LEASE.release(self._held(), self.attempts, **changes)
        self._set(**changes, **self.LEASE.released())

    def _set(self, **values) -> None:
        for field, value in values.items():
            setattr(self, field, value)

    @property
    def label(self) -> str:
        """What the job does, for people: `import_traces` → "Import traces"."""
        return self.kind.replace("_", " ").capitalize()

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED, self.Status.CANCELLED)


class Cancelled(Exception):
    """The job was asked to stop; raised from its progress report, caught by jobs.services.run_job."""
