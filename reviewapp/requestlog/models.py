import uuid
from collections.abc import Iterable
from datetime import datetime

from django.db import connection, models
from django.db.models.functions import Cast
from django.utils import timezone

from reviewapp.accounts.models import User
from reviewapp.catalog.models import App
from reviewapp.lib.compiled import server_binding_cursor
from reviewapp.requestlog import passages as passage_rules

# Long enough for real URIs, short enough for a btree index entry (PostgreSQL's limit, 2704 bytes,
# is in bytes: 1,000 characters of CJK or emoji are three or four times that).
DOC_URI_BYTES = 1000
# retrieved_novel names up to this many new documents, and then the requests that retrieved them,
# in its query; past that it looks them up as it walks the log.
MAX_LISTED = 10_000


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
        what drift counts against that baseline period.

        For one app's rows (for_app) the app's new documents are looked up first, from its list
        of documents (AppDocument), and then the requests that retrieved them: each step reads
        only what it finds, where a single query walked every document row of the app."""
        if self.app_pk is None:
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
        new_documents = AppDocument.objects.novel(self.app_pk, since, until)
        uris = list(new_documents.values_list("doc_uri", flat=True)[: MAX_LISTED + 1])
        if not uris:
            return self.none()
        if len(uris) <= MAX_LISTED:
            rows = RetrievedDocument.objects.filter(app_id=self.app_pk, doc_uri__in=uris)
            ids = set(rows.values_list("request_id", flat=True)[: MAX_LISTED + 1])
            if len(ids) <= MAX_LISTED:
                # The ids themselves: the planner then knows how few rows match (a subquery of
                # rare documents reads to it as common ones, and it walks the whole log).
                return self.filter(pk__in=ids)
        # Many new documents or requests: then they are common enough to find walking the log.
        novel = RetrievedDocument.objects.filter(
            request_id=models.OuterRef("pk"), app_id=self.app_pk, doc_uri__in=new_documents.values("doc_uri")
        )
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
    # No index of its own (nor conversation_id, nor mlflow_trace_id): every lookup is within an
    # app, served by the indexes below, and each index is paid for by every row written.
    app = models.ForeignKey(App, models.CASCADE, related_name="requests", db_index=False)
    app_version = models.CharField(max_length=100, blank=True)
    conversation_id = models.CharField(max_length=100)
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
    mlflow_trace_id = models.CharField(max_length=100, blank=True)
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
            # A trace already in the app's log (an import skips it): only the traced rows.
            models.Index(
                fields=["app", "mlflow_trace_id"],
                condition=~models.Q(mlflow_trace_id=""),
                name="req_app_trace",
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

    # Neither has an index of its own: retrieved_doc_once starts with the request, the others
    # with the app. Neither is checked by the database (migrations 0012 and 0013): each check cost
    # every document written a few us at commit, and every writer stores the documents with their
    # request, in one transaction. Deleting a request or its app still deletes its documents
    # (Django's CASCADE).
    request = models.ForeignKey(
        Request, models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    app = models.ForeignKey(App, models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    app_version = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField()
    doc_uri = models.CharField(max_length=DOC_URI_BYTES)  # cut_doc_uri: never more characters than bytes

    class Meta:
        constraints = [models.UniqueConstraint(fields=["request", "doc_uri"], name="retrieved_doc_once")]
        # (app, doc_uri, created_at), what drift looks documents up by, is outside the state: on
        # PostgreSQL retrieved_doc_app_uri_cover (migration 0005), on SQLite the index 0004 made
        # (a migration that rebuilds this table on SQLite must make it again).
        indexes = [models.Index(fields=["app", "created_at"], name="retrieved_doc_app_time")]


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


class AppDocumentQuerySet(models.QuerySet):
    def novel(self, app_id: int, since: datetime, until: datetime):
        """The app's documents no request of it retrieved in [since, until). A document first seen
        at or after `until` is new without a look at its rows; any other is looked up in the
        baseline through its (app, doc_uri, created_at) index."""
        in_baseline = RetrievedDocument.objects.filter(
            app_id=app_id, doc_uri=models.OuterRef("doc_uri"), created_at__gte=since, created_at__lt=until
        )
        return self.filter(app_id=app_id).filter(
            models.Q(first_seen__gte=until) | ~models.Exists(in_baseline)
        )


class AppDocument(models.Model):
    """A document some request of the app retrieved: one row per (app, doc_uri), however many
    requests retrieved it, so what is new against a baseline is looked up per document.

    Every writer of RetrievedDocument rows notes them here (note_documents). `first_seen` is at
    or before the earliest of the document's rows: exact while the log is append-only, and still
    a lower bound should rows ever be deleted, which is all retrieved_novel relies on.
    """

    # No index of its own: app_document_once starts with the app. No constraint in the database
    # either, as on RetrievedDocument: its writers list the documents of requests they stored.
    app = models.ForeignKey(App, models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    doc_uri = models.CharField(max_length=DOC_URI_BYTES)
    first_seen = models.DateTimeField()

    objects = AppDocumentQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["app", "doc_uri"], name="app_document_once")]


def note_documents(app_id: int, seen: Iterable[tuple[str, datetime]]) -> None:
    """List the app's documents in `seen` (doc_uri, when a request retrieved it) that AppDocument
    does not have yet, and move a document's first_seen back to the earliest time given for it.

    The insert skips the documents already listed without locking their rows: a common document
    is in nearly every turn, and a lock would make concurrent turns wait for each other's commit.
    """
    earliest: dict[str, datetime] = {}
    for uri, when in seen:
        if uri not in earliest or when < earliest[uri]:
            earliest[uri] = when
    if not earliest:
        return
    table = connection.ops.quote_name(AppDocument._meta.db_table)
    field = AppDocument._meta.get_field("first_seen")
    # Sorted: two transactions inserting the same new documents take their locks in one order.
    uris = sorted(earliest)
    times = [field.get_db_prep_save(earliest[uri], connection) for uri in uris]
    if connection.vendor == "postgresql":
        # The arrays (thousands of elements for an imported batch) in binary, not quoted into the SQL.
        with server_binding_cursor(connection) as cursor:
            # One statement inserts what is new and returns what it may have to move back: a
            # document listed later than given here, or listed by a transaction this statement's
            # snapshot does not see (the insert waited for it to commit).
            cursor.execute(
                "WITH s AS (SELECT * FROM unnest(%b::text[], %b::timestamptz[]) AS s(doc_uri, first_seen)), "
                f"added AS (INSERT INTO {table} (app_id, doc_uri, first_seen) SELECT %s, doc_uri, first_seen "
                "FROM s ORDER BY doc_uri ON CONFLICT (app_id, doc_uri) DO NOTHING RETURNING doc_uri), "
                "listed AS MATERIALIZED (SELECT * FROM s WHERE doc_uri NOT IN (SELECT doc_uri FROM added)) "
                # A subquery per row: one index lookup each, never a scan of all the app's documents.
                f"SELECT doc_uri, first_seen FROM listed WHERE (SELECT d.first_seen <= listed.first_seen "
                f"FROM {table} d WHERE d.app_id = %s AND d.doc_uri = listed.doc_uri) IS NOT TRUE",
                [uris, times, app_id, app_id],
            )
            later = cursor.fetchall()
            if later:
                # A statement of its own, so that it sees the rows committed meanwhile.
                cursor.execute(
                    f"UPDATE {table} AS d SET first_seen = s.first_seen "
                    "FROM unnest(%b::text[], %b::timestamptz[]) AS s(doc_uri, first_seen) "
                    "WHERE d.app_id = %s AND d.doc_uri = s.doc_uri AND d.first_seen > s.first_seen",
                    [[uri for uri, _ in later], [when for _, when in later], app_id],
                )
            return
    with connection.cursor() as cursor:
        # SQLite writes one transaction at a time: an upsert that only updates when earlier is safe.
        for start in range(0, len(uris), SQLITE_ROWS):
            chunk = range(start, min(start + SQLITE_ROWS, len(uris)))
            cursor.execute(
                f"INSERT INTO {table} (app_id, doc_uri, first_seen) VALUES "
                + ", ".join("(%s, %s, %s)" for _ in chunk)
                + " ON CONFLICT (app_id, doc_uri) DO UPDATE SET first_seen = excluded.first_seen "
                f"WHERE excluded.first_seen < {table}.first_seen",
                [value for i in chunk for value in (app_id, uris[i], times[i])],
            )


# Rows per statement on SQLite, three values each: well under its limit of host parameters.
SQLITE_ROWS = 500


def store_documents(documents: list[RetrievedDocument], ignore_conflicts: bool = False) -> None:
    """Save RetrievedDocument rows (retrieved_documents) and note their documents for their app."""
    RetrievedDocument.objects.bulk_create(documents, ignore_conflicts=ignore_conflicts)
    by_app: dict[int, list[tuple[str, datetime]]] = {}
    for document in documents:
        by_app.setdefault(document.app_id, []).append((document.doc_uri, document.created_at))
    for app_id, seen in by_app.items():
        note_documents(app_id, seen)
