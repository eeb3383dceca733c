import uuid

from django.db import models
from django.utils import timezone

from reviewapp.accounts.models import User
from reviewapp.catalog.models import App


class RequestQuerySet(models.QuerySet):
    def for_app(self, app: App):
        return self.filter(app=app)


class Request(models.Model):
    """The request log: one row per turn (trace). Append-only."""

    class Source(models.TextChoices):
        REVIEW_APP = "review_app", "Review app"
        REST_API = "rest_api", "REST API"
        IMPORT = "import", "Import"

    class Status(models.TextChoices):
        OK = "ok", "OK"
        ERROR = "error", "Error"

    request_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    app = models.ForeignKey(App, models.CASCADE, related_name="requests")
    app_version = models.CharField(max_length=100, blank=True)
    conversation_id = models.CharField(max_length=100, db_index=True)
    source = models.CharField(max_length=20, choices=Source.choices)
    user = models.ForeignKey(User, models.SET_NULL, null=True, blank=True, related_name="requests")
    created_at = models.DateTimeField(default=timezone.now)
    # OpenAI-style chat messages sent to the chain (the whole history up to this turn).
    messages = models.JSONField(default=list)
    response = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OK)
    error = models.TextField(blank=True)
    # MLflow trace JSON (Trace.to_dict()) and its id in the tracking store, when traced.
    trace = models.JSONField(null=True, blank=True)
    mlflow_trace_id = models.CharField(max_length=100, blank=True, db_index=True)
    # [{"position": 0, "doc_uri": "...", "content": "..."}] from the RETRIEVER spans.
    chunks = models.JSONField(default=list, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    request_tokens = models.PositiveIntegerField(null=True, blank=True)
    response_tokens = models.PositiveIntegerField(null=True, blank=True)
    total_tokens = models.PositiveIntegerField(null=True, blank=True)

    objects = RequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-request_id"]
        indexes = [
            # Keyset pagination of one app's log, newest first, with the common filters.
            models.Index(fields=["app", "-created_at", "-request_id"], name="req_app_time"),
            models.Index(fields=["app", "source", "-created_at"], name="req_app_source_time"),
            models.Index(fields=["app", "app_version", "-created_at"], name="req_app_version_time"),
            models.Index(fields=["app", "conversation_id", "created_at"], name="req_app_conversation"),
        ]

    def __str__(self) -> str:
        return str(self.request_id)

    @property
    def request_text(self) -> str:
        """The last user message: what this turn asked."""
        for message in reversed(self.messages or []):
            if message.get("role") == "user":
                return str(message.get("content", ""))
        return ""
