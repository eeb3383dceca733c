from django.db import models
from django.utils import timezone

from reviewapp.accounts.models import User
from reviewapp.catalog.models import App
from reviewapp.requestlog.models import Request


class GoldItemQuerySet(models.QuerySet):
    def for_app(self, app: App):
        return self.filter(app=app)


class GoldItem(models.Model):
    """A request whose answer is known: reviewers handed it in a queue are measured against it.

    The answer key is a snapshot taken when the manager marked it (the adjudicated label, else the
    reviewers' majority), so later feedback on the request does not move it; marking again takes a
    new snapshot. A field the reviewers tied on has no key and measures nobody.
    """

    class Source(models.TextChoices):
        ADJUDICATED = "adjudicated", "the adjudicated label"
        MAJORITY = "majority", "the reviewers' majority"

    app = models.ForeignKey(App, models.CASCADE, related_name="gold_items")
    request = models.OneToOneField(Request, models.CASCADE, related_name="gold")
    # positive | negative | "" (no thumbs key: tied, or nobody gave a thumbs rating)
    rating = models.CharField(max_length=10, blank=True)
    # {passage position (as text): true when relevant}, the passages with a key only.
    relevant = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=20, choices=Source.choices)
    # What could not be settled, in words, e.g. "thumbs tied 1–1", "passage 2 tied 1–1".
    unsettled = models.JSONField(default=list, blank=True)
    marked_by = models.ForeignKey(User, models.SET_NULL, null=True, related_name="+")
    marked_at = models.DateTimeField(default=timezone.now)

    objects = GoldItemQuerySet.as_manager()

    class Meta:
        ordering = ["marked_at", "id"]
        indexes = [models.Index(fields=["app", "marked_at"], name="gold_item_app_marked")]

    def __str__(self) -> str:
        return f"gold {self.request_id}"
