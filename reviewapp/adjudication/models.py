from django.db import models
from django.utils import timezone

from reviewapp.accounts.models import User
from reviewapp.catalog.models import App
from reviewapp.queues.models import ReviewQueue
from reviewapp.requestlog.models import Request


class MlflowStatus(models.TextChoices):
    NONE = "", "Not traced"
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class Adjudication(models.Model):
    """The final label of a request its reviewers disagreed on, set by a manager or adjudicator.

    Exports use it before any disagreement rule; the reviewers' own rows stay in the history.
    """

    class Rating(models.TextChoices):
        POSITIVE = "positive", "Good"
        NEGATIVE = "negative", "Not good"

    app = models.ForeignKey(App, models.CASCADE, related_name="adjudications")
    request = models.OneToOneField(Request, models.CASCADE, related_name="adjudication")
    # The queue whose disagreement list it was settled from (None: settled from the request itself).
    queue = models.ForeignKey(
        ReviewQueue, models.SET_NULL, null=True, blank=True, related_name="adjudications"
    )
    rating = models.CharField(max_length=10, choices=Rating.choices, blank=True)
    # {chunk position (as text): true when relevant} for the passages the adjudicator settled.
    relevant = models.JSONField(default=dict, blank=True)
    corrected_response = models.TextField(blank=True)
    # Whose feedback was taken as it was, when the adjudicator picked one rather than writing their own.
    chosen_reviewer = models.ForeignKey(User, models.SET_NULL, null=True, blank=True, related_name="+")
    note = models.TextField(blank=True)
    adjudicator = models.ForeignKey(User, models.SET_NULL, null=True, related_name="adjudications")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # Counts every save: the MLflow write-back marks done only the revision it wrote.
    revision = models.PositiveIntegerField(default=1)
    # Write-back to the request's MLflow trace as the final expectations (adjudication/mlflow.py).
    mlflow_status = models.CharField(max_length=10, choices=MlflowStatus.choices, blank=True)
    # {item key: {"id", "said"}} of the final items written, to override them on a change.
    mlflow_ids = models.JSONField(default=dict, blank=True)
    mlflow_error = models.TextField(blank=True)
    mlflow_attempts = models.PositiveIntegerField(default=0)
    mlflow_locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["app", "updated_at"], name="adjudication_app_updated")]

    def __str__(self) -> str:
        return f"{self.request_id}: {self.rating or 'no rating'}"

    def relevance(self) -> dict[int, bool]:
        """The settled passages by position (JSON keeps the positions as text)."""
        return {int(position): bool(value) for position, value in (self.relevant or {}).items()}
