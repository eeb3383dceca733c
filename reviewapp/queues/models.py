from django.db import models
from django.utils import timezone

from reviewapp.accounts.models import User
from reviewapp.catalog.models import App
from reviewapp.requestlog.models import Request


class ReviewQueueQuerySet(models.QuerySet):
    def open_to(self, user):
        """Queues this user may review in: open ones, and those naming them as a reviewer.

        Says nothing of the app's permission level: callers start from apps the user may query.
        """
        return self.filter(
            models.Q(assignment=ReviewQueue.Assignment.OPEN) | models.Q(reviewers=user)
        ).distinct()

    def taking_requests(self):
        """Queues a request can be added to by its id: a pairwise queue's items come with their pair."""
        return self.filter(mode=ReviewQueue.Mode.REVIEW)


class ReviewQueue(models.Model):
    """Requests chosen by the app owner for experts to review (the reference's "Option 2")."""

    class Assignment(models.TextChoices):
        NAMED = "named", "Named reviewers"
        ROUND_ROBIN = "round_robin", "Round-robin among named reviewers"
        OPEN = "open", "Open to anyone who can query the app"

    class Mode(models.TextChoices):
        REVIEW = "review", "Review each response"
        PAIRWISE = "pairwise", "Compare two responses"

    app = models.ForeignKey(App, models.CASCADE, related_name="queues")
    name = models.CharField(max_length=200)
    # Blank means: the app's current instructions.
    instructions = models.TextField(blank=True)
    overlap = models.PositiveIntegerField(default=1)
    assignment = models.CharField(max_length=20, choices=Assignment.choices, default=Assignment.OPEN)
    blind = models.BooleanField(default=False)
    reviewers = models.ManyToManyField(User, blank=True, related_name="review_queues")
    mode = models.CharField(max_length=20, choices=Mode.choices, default=Mode.REVIEW)
    due_at = models.DateTimeField(null=True, blank=True)
    # A closed queue hands out nothing; its done work stays and counts.
    closed_at = models.DateTimeField(null=True, blank=True)
    # Share of each reviewer's stream drawn from the app's gold items (0 = none).
    gold_rate = models.FloatField(default=0.0)
    # A reviewer whose gold accuracy falls below this is flagged on the queue page (None = never).
    gold_accuracy_threshold = models.FloatField(null=True, blank=True)
    # Besides the app's managers, who may adjudicate this queue's disagreements.
    adjudicators = models.ManyToManyField(User, blank=True, related_name="adjudicated_queues")
    created_by = models.ForeignKey(User, models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    objects = ReviewQueueQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["app", "name"], name="queue_unique_name"),
            models.CheckConstraint(condition=models.Q(overlap__gte=1), name="queue_overlap_positive"),
            models.CheckConstraint(
                condition=models.Q(gold_rate__gte=0, gold_rate__lte=0.5), name="queue_gold_rate_range"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def is_open_to(self, user) -> bool:
        """One queue's `ReviewQueue.objects.open_to(user)`: open, or naming them as a reviewer."""
        return ReviewQueue.objects.filter(pk=self.pk).open_to(user).exists()


class QueueItem(models.Model):
    queue = models.ForeignKey(ReviewQueue, models.CASCADE, related_name="items")
    request = models.ForeignKey(Request, models.CASCADE, related_name="queue_items")
    position = models.PositiveIntegerField(default=0)
    added_at = models.DateTimeField(default=timezone.now)
    # A known-answer item mixed into reviewers' streams; it looks like any other to them.
    gold = models.BooleanField(default=False)

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["queue", "request"], name="queue_item_unique_request")]
        indexes = [
            models.Index(fields=["queue", "position"], name="queue_item_position"),
            # /metrics' oldest waiting item: a queue's items from the oldest on.
            models.Index(fields=["queue", "added_at", "id"], name="queue_item_added"),
        ]

    def __str__(self) -> str:
        return f"{self.queue_id}:{self.request_id}"


class QueueEvent(models.Model):
    """The audit log of a queue: who changed what, and when."""

    queue = models.ForeignKey(ReviewQueue, models.CASCADE, related_name="events")
    actor = models.ForeignKey(User, models.SET_NULL, null=True, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    # created, edited, closed, reopened, items_added, items_removed, reviewers_added, ...
    action = models.CharField(max_length=40)
    # {field: [before, after]} for edits; {"request_ids": [...], "count": n} for items.
    changes = models.JSONField(default=dict)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["queue", "at"], name="queue_event_at")]


class ReservationQuerySet(models.QuerySet):
    def live(self, now=None):
        """Reservations that count towards an item's overlap: submitted, or not yet expired."""
        now = now or timezone.now()
        return self.filter(models.Q(done_at__isnull=False) | models.Q(expires_at__gt=now))

    def done(self):
        return self.filter(done_at__isnull=False)

    def unfinished(self):
        return self.filter(done_at__isnull=True)

    def held_by(self, reviewer, now=None):
        """What `reviewer` holds: submitted, or reserved and not expired. An expired reservation is
        not held: someone else may take its slot, and the reviewer must take it again to go on."""
        return self.filter(reviewer=reviewer).live(now)


class Reservation(models.Model):
    """One of an item's N review slots, held by one reviewer.

    Slots are numbered 1..overlap and unique per item, so the database itself refuses a
    (N+1)th reviewer even when two claims race. A slot whose reservation expired without a
    submission can be taken over by another reviewer; once `done_at` is set it is kept.
    """

    item = models.ForeignKey(QueueItem, models.CASCADE, related_name="reservations")
    slot = models.PositiveIntegerField()
    reviewer = models.ForeignKey(User, models.CASCADE, related_name="queue_reservations")
    claimed_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True, blank=True)

    objects = ReservationQuerySet.as_manager()

    class Meta:
        ordering = ["claimed_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["item", "slot"], name="reservation_unique_slot"),
            models.UniqueConstraint(fields=["item", "reviewer"], name="reservation_unique_reviewer"),
            models.CheckConstraint(condition=models.Q(slot__gte=1), name="reservation_slot_positive"),
        ]
        indexes = [models.Index(fields=["reviewer", "done_at"], name="reservation_reviewer_done")]

    def is_live(self, now=None) -> bool:
        return self.done_at is not None or self.expires_at > (now or timezone.now())


class Draft(models.Model):
    """What a reviewer has typed on an item but not yet submitted; restored when they come back."""

    item = models.ForeignKey(QueueItem, models.CASCADE, related_name="drafts")
    reviewer = models.ForeignKey(User, models.CASCADE, related_name="queue_drafts")
    # {field name: value} as the feedback panel's fields hold them.
    data = models.JSONField(default=dict)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "reviewer"], name="draft_unique_reviewer")]
