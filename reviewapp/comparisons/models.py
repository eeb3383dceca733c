from django.db import models
from django.utils import timezone

from reviewapp.accounts.models import User
from reviewapp.jobs.models import Job
from reviewapp.queues.models import QueueItem, ReviewQueue
from reviewapp.requestlog.models import Request

# The reasons a reviewer may give for preferring one response, besides "other" with text.
REASONS = [
    "more accurate",
    "more complete",
    "better grounded in the sources",
    "more relevant",
    "clearer",
    "safer",
]


class Comparison(models.Model):
    """What a pairwise queue compares: two app versions (the requests replayed on B), or imported pairs."""

    class Kind(models.TextChoices):
        VERSIONS = "versions", "Two app versions"
        IMPORTED = "imported", "Imported pairs"

    queue = models.OneToOneField(ReviewQueue, models.CASCADE, related_name="comparison")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # The versions picked by the manager (blank for imported pairs, whose rows name their own).
    version_a = models.CharField(max_length=100, blank=True)
    version_b = models.CharField(max_length=100, blank=True)
    # The background job replaying the requests on version B.
    job = models.ForeignKey(Job, models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)


class PairQuerySet(models.QuerySet):
    def pending(self):
        return self.filter(status=ComparisonPair.Status.PENDING)


class ComparisonPair(models.Model):
    """Two responses to the same request: `request_a` from version A, `request_b` from version B.

    For two versions, request_a is the original and request_b its replay on B (None until replayed).
    The pair becomes a queue item (request = request_a) once both responses exist, so reviewers are
    never handed a pair with a response missing.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for its replay"
        READY = "ready", "Ready"
        FAILED = "failed", "Replay failed"

    comparison = models.ForeignKey(Comparison, models.CASCADE, related_name="pairs")
    position = models.PositiveIntegerField()
    request_a = models.ForeignKey(Request, models.CASCADE, related_name="+")
    request_b = models.ForeignKey(Request, models.CASCADE, null=True, blank=True, related_name="+")
    version_a = models.CharField(max_length=100)
    version_b = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    item = models.OneToOneField(QueueItem, models.SET_NULL, null=True, blank=True, related_name="pair")

    objects = PairQuerySet.as_manager()

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["comparison", "request_a"], name="pair_unique_request"),
            models.UniqueConstraint(fields=["comparison", "position"], name="pair_unique_position"),
        ]
        indexes = [models.Index(fields=["comparison", "status", "position"], name="pair_status")]

    def version_of(self, side: str) -> str:
        return self.version_a if side == "a" else self.version_b


class PairOrder(models.Model):
    """The order one reviewer sees a pair in, drawn at random once, so a reload shows the same."""

    pair = models.ForeignKey(ComparisonPair, models.CASCADE, related_name="orders")
    reviewer = models.ForeignKey(User, models.CASCADE, related_name="+")
    # False: request_a is shown as "Response A"; True: request_b is.
    swapped = models.BooleanField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["pair", "reviewer"], name="pair_order_once")]


class PreferenceQuerySet(models.QuerySet):
    def effective(self):
        """Each reviewer's latest judgement of each pair (a changed mind is a new row)."""
        # By id, which grows with each row: portable to SQLite, unlike DISTINCT ON.
        newer = Preference.objects.filter(
            pair=models.OuterRef("pair"), reviewer=models.OuterRef("reviewer"), id__gt=models.OuterRef("id")
        )
        return self.filter(~models.Exists(newer))


class Preference(models.Model):
    """One reviewer's judgement of a pair. Append-only: the latest per (pair, reviewer) counts."""

    class Winner(models.TextChoices):
        A = "a", "Version A's response"
        B = "b", "Version B's response"
        TIE = "tie", "Tie"

    pair = models.ForeignKey(ComparisonPair, models.CASCADE, related_name="preferences")
    reviewer = models.ForeignKey(User, models.CASCADE, related_name="+")
    # In the pair's terms (version A or B), whatever order the reviewer saw.
    winner = models.CharField(max_length=3, choices=Winner.choices)
    swapped = models.BooleanField(default=False)
    reasons = models.JSONField(default=list, blank=True)
    other_reason = models.TextField(blank=True)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = PreferenceQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["pair", "reviewer", "created_at"], name="preference_latest")]
