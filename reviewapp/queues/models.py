from django.db import models
from django.utils import timezone

from reviewapp.accounts.models import User
from reviewapp.catalog.models import App
from reviewapp.requestlog.models import Request


class ReviewQueue(models.Model):
    """Requests chosen by the app owner for experts to review (the reference's "Option 2")."""

    class Assignment(models.TextChoices):
        NAMED = "named", "Named reviewers"
        ROUND_ROBIN = "round_robin", "Round-robin among named reviewers"
        OPEN = "open", "Open to any reviewer with CAN_QUERY"

    app = models.ForeignKey(App, models.CASCADE, related_name="queues")
    name = models.CharField(max_length=200)
    # Blank means: the app's current instructions.
    instructions = models.TextField(blank=True)
    overlap = models.PositiveIntegerField(default=1)
    assignment = models.CharField(max_length=20, choices=Assignment.choices, default=Assignment.OPEN)
    blind = models.BooleanField(default=False)
    reviewers = models.ManyToManyField(User, blank=True, related_name="review_queues")
    created_by = models.ForeignKey(User, models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["app", "name"], name="queue_unique_name"),
            models.CheckConstraint(condition=models.Q(overlap__gte=1), name="queue_overlap_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class QueueItem(models.Model):
    queue = models.ForeignKey(ReviewQueue, models.CASCADE, related_name="items")
    request = models.ForeignKey(Request, models.CASCADE, related_name="queue_items")
    position = models.PositiveIntegerField(default=0)
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["queue", "request"], name="queue_item_unique_request")]
