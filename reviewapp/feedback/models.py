import uuid

from django.db import models
from django.utils import timezone

from reviewapp.accounts.models import User
from reviewapp.catalog.models import App
from reviewapp.requestlog.models import Request


class AssessmentQuerySet(models.QuerySet):
    def effective(self):
        """The latest row per (request, reviewer): what each reviewer thinks now."""
        latest = (
            self.model.objects.filter(
                request_id=models.OuterRef("request_id"), reviewer_id=models.OuterRef("reviewer_id")
            )
            .order_by("-created_at", "-id")
            .values("id")[:1]
        )
        return self.filter(id=models.Subquery(latest))

    def newer_than(self, row: "Assessment"):
        """Rows of the same reviewer on the same request made after `row` (it is effective if none)."""
        return self.model.objects.filter(request_id=row.request_id, reviewer_id=row.reviewer_id).filter(
            models.Q(created_at__gt=row.created_at) | models.Q(created_at=row.created_at, id__gt=row.id)
        )

    def with_effective(self):
        """Annotate `is_effective`: no newer row of the same reviewer on the same request."""
        newer = self.model.objects.filter(
            request_id=models.OuterRef("request_id"), reviewer_id=models.OuterRef("reviewer_id")
        ).filter(
            models.Q(created_at__gt=models.OuterRef("created_at"))
            | models.Q(created_at=models.OuterRef("created_at"), id__gt=models.OuterRef("id"))
        )
        return self.annotate(is_effective=~models.Exists(newer))


class Assessment(models.Model):
    """The assessment log: one row per piece of feedback. Append-only.

    Each row holds the reviewer's whole feedback on the request at that moment (a change
    of mind writes a new complete row), so the latest row per (request, reviewer) is the
    effective one and every earlier state stays in the history.
    """

    class Rating(models.TextChoices):
        POSITIVE = "positive", "Positive"
        NEGATIVE = "negative", "Negative"

    # Client-supplied id makes retries idempotent.
    assessment_id = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    request = models.ForeignKey(Request, models.CASCADE, related_name="assessments")
    app = models.ForeignKey(App, models.CASCADE, related_name="assessments")
    reviewer = models.ForeignKey(User, models.PROTECT, related_name="assessments")
    # Source type HUMAN; source id = the reviewer's email at the time.
    source_id = models.CharField(max_length=254)
    created_at = models.DateTimeField(default=timezone.now)
    rating = models.CharField(max_length=10, choices=Rating.choices, blank=True)
    reasons = models.JSONField(default=list, blank=True)
    other_reason = models.TextField(blank=True)
    comment = models.TextField(blank=True)
    corrected_response = models.TextField(null=True, blank=True)
    # [{"position", "doc_uri", "rating": "relevant"|"not_relevant", "comment"}]
    retrieval_assessments = models.JSONField(default=list, blank=True)
    # [{"doc_uri", "content"}] the reviewer says should have been retrieved.
    missing_sources = models.JSONField(default=list, blank=True)
    app_version = models.CharField(max_length=100, blank=True)
    instructions_version = models.PositiveIntegerField(null=True, blank=True)
    queue = models.ForeignKey(
        "queues.ReviewQueue", models.SET_NULL, null=True, blank=True, related_name="assessments"
    )

    objects = AssessmentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["request", "reviewer", "-created_at"], name="assess_req_reviewer"),
            models.Index(fields=["app", "-created_at"], name="assess_app_time"),
        ]


class MlflowSync(models.Model):
    """Write-back of one assessment to its MLflow trace; retried until done."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DONE = "done"
        FAILED = "failed"
        SKIPPED = "skipped"

    assessment = models.OneToOneField(Assessment, models.CASCADE, related_name="mlflow_sync")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # MLflow assessment ids written for this row, to override them on a change of mind.
    mlflow_ids = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    # A worker holds the row until then (claimed with a conditional UPDATE); a crash frees it.
    locked_until = models.DateTimeField(null=True, blank=True)
