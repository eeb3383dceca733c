import uuid

from django.db import models
from django.utils import timezone

from reviewapp.accounts.models import User
from reviewapp.catalog.models import App


class Job(models.Model):
    """A background job (import, export, sync) with progress, run by a Celery task.

    A worker claims it with a conditional UPDATE (`claim`), so a redelivered task never runs
    a finished job twice.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

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
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def claim(self) -> bool:
        """Take the job for this worker: queued, or running but abandoned by a dead worker."""
        now = timezone.now()
        stale = now - timezone.timedelta(seconds=60)
        claimed = (
            Job.objects.filter(pk=self.pk)
            .filter(
                models.Q(status=self.Status.QUEUED)
                | models.Q(status=self.Status.RUNNING, heartbeat_at__lt=stale)
            )
            .update(
                status=self.Status.RUNNING,
                started_at=now,
                heartbeat_at=now,
                attempts=models.F("attempts") + 1,
            )
        )
        if claimed:
            self.refresh_from_db()
        return bool(claimed)

    def report_progress(self, done: int, total: int | None = None) -> None:
        self.progress_done = done
        fields = ["progress_done", "heartbeat_at"]
        if total is not None:
            self.progress_total = total
            fields.append("progress_total")
        self.heartbeat_at = timezone.now()
        Job.objects.filter(pk=self.pk).update(**{f: getattr(self, f) for f in fields})

    def succeed(self, result: dict) -> None:
        self.status, self.result, self.finished_at = self.Status.SUCCEEDED, result, timezone.now()
        self.save(update_fields=["status", "result", "finished_at"])

    def fail(self, error: str) -> None:
        self.status, self.error, self.finished_at = self.Status.FAILED, error, timezone.now()
        self.save(update_fields=["status", "error", "finished_at"])

    @property
    def label(self) -> str:
        """What the job does, for people: `import_traces` → "Import traces"."""
        return self.kind.replace("_", " ").capitalize()

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)
