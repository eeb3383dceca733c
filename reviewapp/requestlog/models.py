import uuid
from datetime import datetime

from django.db import models
from django.db.models.functions import Cast
from django.utils import timezone

from reviewapp.accounts.models import User
from reviewapp.catalog.models import App
from reviewapp.requestlog import passages as passage_rules

# Long enough for real URIs, short enough for a btree index entry (PostgreSQL's limit, 2704 bytes,
# is in bytes: 1,000 characters of CJK or emoji are three or four times that).
DOC_URI_BYTES = 1000


class ILike(models.Lookup):
    """Case-insensitive LIKE that PostgreSQL's trigram indexes serve (ILIKE); LIKE on SQLite."""

    lookup_name = "ilike"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        operator = "ILIKE" if connection.vendor == "postgresql" else "LIKE"
        return f"{lhs} {operator} {rhs} ESCAPE '\\'", [*lhs_params, *rhs_params]


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class RequestQuerySet(models.QuerySet):
    # The column pages are ordered and cut by: the request's time, or a copy of it in a table
    # that only some requests have a row in (timed_by).
    time_field = "created_at"
    # The app for_app scoped the rows to, when it did: a filter may then look things up for it first.
    app_pk = None

    def _clone(self):
        clone = super()._clone()
        clone.time_field = self.time_field
        clone.app_pk = self.app_pk
        return clone

    def timed_by(self, field: str):
        """The same rows, ordered and cut (newest_first, older_than, newer_than) by `field`: a copy
        of created_at in a joined table with at most one row per request. When a filter keeps only
        requests with such a row, that table's (app, time) index then walks just them in order,
        instead of every request of the app."""
        clone = self._chain()
        clone.time_field = field
        return clone

    def for_app(self, app: App):
        clone = self.filter(app=app)
        clone.app_pk = app.pk
        return clone

    def search(self, text: str):
        """Rows whose request messages or response contain `text`, ignoring case."""
        pattern = models.Value(_like_pattern(text), output_field=models.TextField())
        in_messages = ILike(Cast("messages", models.TextField()), pattern)
        in_response = ILike(models.F("response"), pattern)
        return self.filter(models.Q(in_response) | models.Q(in_messages))

    def newest_first(self):
        return self.order_by(f"-{self.time_field}", "-request_id")

    def between(self, since: datetime | None, until: datetime | None):
        """Rows at or after `since` and before `until` (either may be None)."""
        bounds = {f"{self.time_field}__gte": since, f"{self.time_field}__lt": until}
        return self.filter(**{lookup: value for lookup, value in bounds.items() if value is not None})

    def retrieved(self, doc_uri: str | None = None, present: bool = True):
        """Rows that retrieved any document, or the one with this doc_uri (RetrievedDocument);
        not `present`: rows that did not."""
        if doc_uri is None:
            return self.filter(documents__gt=0) if present else self.filter(documents=0)
        documents = RetrievedDocument.objects.filter(
            request_id=models.OuterRef("pk"), app_id=models.OuterRef("app_id")
        )
        documents = documents.filter(doc_uri=cut_doc_uri(doc_uri))
        return self.filter(models.Exists(documents) if present else ~models.Exists(documents))

    def retrieved_novel(self, since: datetime, until: datetime):
        """Rows that retrieved a document no request of their app retrieved in [since, until):
        what drift counts against that baseline period."""
        in_baseline = RetrievedDocument.objects.filter(
            app_id=models.OuterRef("app_id"),
            doc_uri=models.OuterRef("doc_uri"),
            created_at__gte=since,
            created_at__lt=until,
        )
        novel = RetrievedDocument.objects.filter(
            request_id=models.OuterRef("pk"), app_id=models.OuterRef("app_id")
        ).filter(~models.Exists(in_baseline))
        return self.filter(models.Exists(novel))

    def older_than(self, created_at: datetime, request_id: uuid.UUID):
        """Rows older than that one (keyset order); the redundant `lte` lets the index start there."""
        time = self.time_field
        return self.filter(**{f"{time}__lte": created_at}).filter(
            models.Q(**{f"{time}__lt": created_at})
            | models.Q(**{time: created_at}, request_id__lt=request_id)
        )

    def newer_than(self, created_at: datetime, request_id: uuid.UUID):
        """Rows newer than that one (keyset order)."""
        time = self.time_field
        return self.filter(**{f"{time}__gte": created_at}).filter(
            models.Q(**{f"{time}__gt": created_at})
            | models.Q(**{time: created_at}, request_id__gt=request_id)
        )


class Request(models.Model):
    """The request log: one row per turn (trace). Append-only."""

    class Source(models.TextChoices):
        REVIEW_APP = "review_app", "Review app"
        REST_API = "rest_api", "REST API"
        IMPORT = "import", "Import"
        # Replayed on another app version for a pairwise comparison queue.
        COMPARISON = "comparison", "Comparison replay"

    class Status(models.TextChoices):
        OK = "ok", "OK"
        # The chain stopped part-way (a stream cut off): the partial answer is kept, for review too.
        INCOMPLETE = "incomplete", "Incomplete"
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
    # How many distinct doc_uris the chunks hold (its RetrievedDocument rows): counted with the
    # request so the figures need not group those rows to know which requests retrieved any.
    documents = models.PositiveIntegerField(default=0)
    # Some of the chain's text could not be stored as it came (NUL removed, unpaired surrogates
    # replaced by U+FFFD; see lib/text.py).
    text_altered = models.BooleanField(default=False)
    # The chain's own time; loading the model first, when this call had to, is load_ms.
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    load_ms = models.PositiveIntegerField(null=True, blank=True)
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
            # status=error / incomplete: the few rows not ok, in the page's order (migration 0008).
            models.Index(
                fields=["app", "-created_at", "-request_id"],
                condition=~models.Q(status="ok"),
                name="req_app_time_not_ok",
            ),
        ]

    def __str__(self) -> str:
        return str(self.request_id)

    @property
    def request_text(self) -> str:
        return last_user_message(self.messages)

    def passages(self) -> list[dict]:
        """The chunks the model saw, duplicates merged: what reviewers rate (see passages.py)."""
        return passage_rules.passages(self.chunks, self.app.context_span)


def last_user_message(messages: list[dict] | None) -> str:
    """The last user message of a chat: what that turn asked."""
    for message in reversed(messages or []):
        if message.get("role") == "user":
            return str(message.get("content", ""))
    return ""


class RetrievedDocument(models.Model):
    """A document (doc_uri) some retriever span returned for a request: what drift is measured on.

    Written with the request; one row per distinct doc_uri of the request.
    """

    request = models.ForeignKey(Request, models.CASCADE, related_name="+")
    app = models.ForeignKey(App, models.CASCADE, related_name="+")
    app_version = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField()
    doc_uri = models.CharField(max_length=DOC_URI_BYTES)  # cut_doc_uri: never more characters than bytes

    class Meta:
        constraints = [models.UniqueConstraint(fields=["request", "doc_uri"], name="retrieved_doc_once")]
        indexes = [
            models.Index(fields=["app", "created_at"], name="retrieved_doc_app_time"),
            models.Index(fields=["app", "doc_uri", "created_at"], name="retrieved_doc_app_uri_time"),
        ]


def cut_doc_uri(text: str) -> str:
    """`text` cut to at most DOC_URI_BYTES bytes of UTF-8, on a character boundary: how a doc_uri
    is stored and looked up, so a URI longer than that finds the rows stored for it."""
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) <= DOC_URI_BYTES:
        return text
    # Only the last character can be split; "ignore" drops its leading bytes.
    return raw[:DOC_URI_BYTES].decode("utf-8", "ignore")


def retrieved_documents(request: Request) -> list[RetrievedDocument]:
    """The rows of `request`'s distinct doc_uris (not saved); long URIs are cut (cut_doc_uri).
    Sets `request.documents` to their number: call it before the request is saved."""
    seen: dict[str, None] = {}
    for chunk in request.chunks or []:
        if isinstance(chunk, dict) and chunk.get("doc_uri"):
            seen.setdefault(cut_doc_uri(str(chunk["doc_uri"])), None)
    request.documents = len(seen)
    return [
        RetrievedDocument(
            request_id=request.request_id,
            app_id=request.app_id,
            app_version=request.app_version,
            created_at=request.created_at,
            doc_uri=uri,
        )
        for uri in seen
    ]
