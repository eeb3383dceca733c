import uuid

from django.db import connection, models
from django.utils import timezone

from reviewapp.accounts.models import User
from reviewapp.catalog.models import App
from reviewapp.requestlog.models import Request


class AssessmentQuerySet(models.QuerySet):
    """An assessment is effective while no later row exists by the same reviewer on the same request.

    "Later" is defined once, in `_later_than`: created after it, or at the same instant with a higher id.
    """

    def _later_than(self, *, request_id, reviewer_id, created_at, pk):
        """Rows by the same reviewer on the same request made after the given one (values or OuterRefs)."""
        return self.model.objects.filter(request_id=request_id, reviewer_id=reviewer_id).filter(
            models.Q(created_at__gt=created_at) | models.Q(created_at=created_at, id__gt=pk)
        )

    def _later_than_outer(self):
        later = self._later_than(
            request_id=models.OuterRef("request_id"),
            reviewer_id=models.OuterRef("reviewer_id"),
            created_at=models.OuterRef("created_at"),
            pk=models.OuterRef("id"),
        )
        if connection.vendor != "postgresql":
            # SQLite's planner, without statistics, would walk the app's rows by it instead of the
            # (request, reviewer) index: a scan per row.
            return later
        # The app adds nothing (a request is one app's) but lets PostgreSQL's planner read one app's rows.
        return later.filter(app_id=models.OuterRef("app_id"))

    def latest_per_reviewer(self):
        """The effective rows: each reviewer's latest row per request, what they think now."""
        # An anti-join ("no later row") rather than "id = (the latest id)": the same rows, but
        # PostgreSQL estimates it well and plans it as one hash join.
        return self.filter(~models.Exists(self._later_than_outer()))

    def with_is_effective(self):
        """Every row, each annotated `is_effective` (no later row by the same reviewer)."""
        return self.annotate(is_effective=~models.Exists(self._later_than_outer()))

    def effective_for(self, request, reviewer) -> "Assessment | None":
        """`reviewer`'s current assessment of `request`, or None when they gave none."""
        return self.filter(request=request, reviewer=reviewer).latest_per_reviewer().first()

    def ratings_by_request(self) -> dict:
        """{request_id: {"positive", "negative", "reviewers"}}: counts of the effective assessments."""
        summary: dict = {}
        for request_id, rating in self.latest_per_reviewer().values_list("request_id", "rating"):
            counts = summary.setdefault(request_id, {"positive": 0, "negative": 0, "reviewers": 0})
            counts["reviewers"] += 1
            if rating in (Assessment.Rating.POSITIVE, Assessment.Rating.NEGATIVE):
                counts[rating] += 1
        return summary

    def later_than(self, row: "Assessment"):
        """Rows that supersede `row` (it is effective when there are none)."""
        return self._later_than(
            request_id=row.request_id, reviewer_id=row.reviewer_id, created_at=row.created_at, pk=row.pk
        )


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
    # The reviewer's n-th row on the request, written by record_feedback (None: written otherwise).
    # Unique, so of two changes merged into the same base concurrently one fails and merges again,
    # without a lock held across the read and the insert.
    revision = models.PositiveIntegerField(null=True, blank=True)
    # Not yet summed into the request's summary (RequestFeedback): summary.catch_up sums such rows
    # before anything reads the summaries, so the write itself is one INSERT.
    awaits_summary = models.BooleanField(default=False, db_default=False)

    objects = AssessmentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # A reviewer's latest row on a request (created_at, then id): one index entry read,
            # however long their history there; ordered by created_at alone, every row was sorted.
            models.Index(
                fields=["request", "reviewer", "-created_at", "-id"], name="assess_req_reviewer_latest"
            ),
            models.Index(fields=["app", "-created_at"], name="assess_app_time"),
            # Only the few rows not summed yet: what catch_up reads.
            models.Index(
                fields=["id"], condition=models.Q(awaits_summary=True), name="assess_awaits_summary"
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["request", "reviewer", "revision"], name="assess_revision_once")
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


class RequestFeedback(models.Model):
    """Each request's effective feedback, summed: what the dashboard and the log's filters read.

    Rewritten in the same transaction as every assessment of the request (see summary.py), from
    the effective rows only, so aggregates over many requests never need the assessment log.
    The request's app, version, source and time are copied here so one index serves a time range.
    """

    class Verdict(models.TextChoices):
        # Every effective rating is a thumbs up / a thumbs down / some of each; "" none rated yet.
        POSITIVE = "positive", "Positive"
        NEGATIVE = "negative", "Negative"
        MIXED = "mixed", "Mixed"
        UNRATED = "", "Unrated"

    request = models.OneToOneField(Request, models.CASCADE, primary_key=True, related_name="feedback_summary")
    app = models.ForeignKey(App, models.CASCADE, related_name="+")
    app_version = models.CharField(max_length=100, blank=True)
    source = models.CharField(max_length=20)
    request_created_at = models.DateTimeField()
    reviewers = models.PositiveIntegerField(default=0)
    up = models.PositiveIntegerField(default=0)
    down = models.PositiveIntegerField(default=0)
    verdict = models.CharField(max_length=10, choices=Verdict.choices, blank=True)
    corrections = models.PositiveIntegerField(default=0)
    missing_sources = models.PositiveIntegerField(default=0)
    # Passages rated by anyone; relevant when more of their ratings say so than not.
    passages_rated = models.PositiveIntegerField(default=0)
    passages_relevant = models.PositiveIntegerField(default=0)
    # Rank (1 = the first passage the model saw) of the first relevant passage; None: none relevant.
    first_relevant_rank = models.PositiveIntegerField(null=True, blank=True)
    # Among the first k passages, for precision@k (k in PRECISION_AT).
    rated_at_1 = models.PositiveSmallIntegerField(default=0)
    relevant_at_1 = models.PositiveSmallIntegerField(default=0)
    rated_at_3 = models.PositiveSmallIntegerField(default=0)
    relevant_at_3 = models.PositiveSmallIntegerField(default=0)
    rated_at_5 = models.PositiveSmallIntegerField(default=0)
    relevant_at_5 = models.PositiveSmallIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["app", "request_created_at"], name="fbsum_app_time"),
            models.Index(fields=["app", "app_version", "request_created_at"], name="fbsum_app_version_time"),
        ]


class FeedbackReason(models.Model):
    """A reason given in a thumbs down in force on a request, with how many reviewers gave it."""

    # The request log's reason filter joins these from the request and pages by their time copy.
    request = models.ForeignKey(Request, models.CASCADE, related_name="feedback_reasons")
    reason = models.CharField(max_length=200)
    votes = models.PositiveIntegerField(default=1)
    app = models.ForeignKey(App, models.CASCADE, related_name="+")
    app_version = models.CharField(max_length=100, blank=True)
    request_created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["request", "reason"], name="fbreason_once")]
        indexes = [models.Index(fields=["app", "request_created_at"], name="fbreason_app_time")]


class FeedbackReviewer(models.Model):
    """A reviewer who has feedback on a request, with the request's app, version and time copied:
    the dashboard's feedback per reviewer reads this narrow table, not the assessment log."""

    request = models.ForeignKey(Request, models.CASCADE, related_name="+")
    reviewer = models.ForeignKey(User, models.CASCADE, related_name="+")
    app = models.ForeignKey(App, models.CASCADE, related_name="+")
    app_version = models.CharField(max_length=100, blank=True)
    request_created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["request", "reviewer"], name="fbreviewer_once")]
        # Every column the per-reviewer figure reads, so PostgreSQL answers it from the index alone.
        indexes = [
            models.Index(
                fields=["app", "request_created_at", "app_version", "reviewer"], name="fbreviewer_app_time"
            )
        ]


class FeedbackDraft(models.Model):
    """Text a reviewer is typing in the feedback panel and has not saved yet: one row per field,
    overwritten as they type. Never an assessment and never written back to MLflow; a reload puts it
    back, and saving the field deletes it."""

    request = models.ForeignKey(Request, models.CASCADE, related_name="+")
    reviewer = models.ForeignKey(User, models.CASCADE, related_name="feedback_drafts")
    # A text control of the panel: comment, other_reason, corrected_response, chunk_comment_<position>, ...
    field = models.CharField(max_length=40)
    text = models.TextField(blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["request", "reviewer", "field"], name="fbdraft_once_per_field")
        ]
