"""Many imported rows: checked one by one, stored in batches, counted in an import report.

Every source gives numbered rows (line number, dict or BadRow) to `import_rows`: a bad row is
reported with its line number and reason and the good ones are kept; rows are written in
batches of BATCH_SIZE, one transaction per batch, with one existence query per batch, so the
same `request_id` is stored once, also across runs. A job that dies half-way is finished by
running it again: what was written is skipped. On PostgreSQL a batch is written by COPY, which
costs both sides a fraction of what an INSERT of the same rows does.
"""

import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

from django.db import DatabaseError, IntegrityError, connection, models, transaction

from reviewapp.catalog.models import App

from .models import Request, RetrievedDocument, note_documents, retrieved_documents, store_documents
from .rows import BadRow, build_request, document_uris, json_text

BATCH_SIZE = 1000
# What storing a row the checks let through may still raise: the database refusing it, or a trace
# too deep to encode as JSON.
UNSTORABLE = (DatabaseError, ValueError, RecursionError)
MAX_REPORTED_ERRORS = 1000


@dataclass
class ImportReport:
    source: str
    rows_read: int = 0
    imported: int = 0
    already_present: int = 0
    bad_rows: int = 0
    errors: list[dict] = field(default_factory=list)

    def bad(self, line: int, reason: str, request_id: str = "") -> None:
        self.bad_rows += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            entry = {"line": line, "reason": reason}
            if request_id:
                entry["request_id"] = request_id
            self.errors.append(entry)

    @property
    def skipped_all(self) -> bool:
        """Rows were read, none was stored and none was here already: the import did nothing."""
        return self.imported == 0 and self.already_present == 0

    def headline(self) -> str:
        """The outcome in one sentence, for the page that shows the finished job."""
        imported, skipped, present = (f"{n:,}" for n in (self.imported, self.bad_rows, self.already_present))
        if self.rows_read == 0:
            return "Nothing imported: there were no rows to import."
        if self.skipped_all:
            return f"Nothing imported: all {skipped} row{_s(self.bad_rows)} had problems."
        parts = [f"{imported} imported" if self.imported else "Nothing new"]
        if self.already_present:
            parts.append(f"{present} already here")
        if self.bad_rows:
            parts.append(f"{skipped} skipped")
        return ", ".join(parts) + "."

    def as_dict(self) -> dict:
        # `warning` and `badge` are what the job page shows instead of a plain "Succeeded": an
        # import that skipped rows finished, but not as the user hoped.
        badge = ""
        if self.rows_read == 0 or self.skipped_all:
            badge = "Nothing imported"
        elif self.bad_rows:
            badge = "Partly imported"
        return {
            **asdict(self),
            "errors_truncated": self.bad_rows > len(self.errors),
            "headline": self.headline(),
            "warning": bool(badge),
            "badge": badge or "Imported",
        }


def _s(count: int) -> str:
    return "" if count == 1 else "s"


def import_rows(
    *,
    app: App,
    rows: Iterable[tuple[int, object]],
    report: ImportReport,
    on_batch: Callable[[int], None] | None = None,
) -> ImportReport:
    """Validate and store numbered rows in batches; a row given as a BadRow is reported as is."""
    batch: list[tuple[int, object]] = []
    last_line = 0
    for line, row in rows:
        batch.append((line, row))
        last_line = line
        if len(batch) >= BATCH_SIZE:
            store_batch(app, batch, report)
            batch = []
            if on_batch:
                on_batch(last_line)
    if batch:
        store_batch(app, batch, report)
    if on_batch:
        on_batch(last_line)
    return report


@transaction.atomic
def store_batch(app: App, batch: list[tuple[int, object]], report: ImportReport) -> None:
    candidates: dict[uuid.UUID, tuple[int, Request]] = {}
    for line, row in batch:
        report.rows_read += 1
        if isinstance(row, BadRow):
            report.bad(line, str(row))
            continue
        try:
            request = build_request(app, row)
        except BadRow as exc:
            report.bad(line, str(exc), str(row.get("request_id", ""))[:80] if isinstance(row, dict) else "")
            continue
        if request.request_id in candidates:
            report.already_present += 1  # the same id earlier in this batch: stored once
            continue
        candidates[request.request_id] = (line, request)
    if not candidates:
        return
    existing = dict(
        Request.objects.filter(request_id__in=list(candidates)).values_list("request_id", "app_id")
    )
    trace_ids = [r.mlflow_trace_id for _, r in candidates.values() if r.mlflow_trace_id]
    # A trace first logged by the chat screen is already here under its own request_id.
    known_traces = (
        set(
            Request.objects.filter(app=app, mlflow_trace_id__in=trace_ids).values_list(
                "mlflow_trace_id", flat=True
            )
        )
        if trace_ids
        else set()
    )
    new = []
    for request_id, (line, request) in candidates.items():
        owner = existing.get(request_id)
        if owner is not None and owner != app.pk:
            report.bad(line, f"request_id {request_id} already belongs to another app", str(request_id))
        elif owner is not None or request.mlflow_trace_id in known_traces:
            report.already_present += 1
        else:
            new.append((line, request))
    try:
        _write([request for _, request in new])
        report.imported += len(new)
    except UNSTORABLE:
        # Something in the batch the checks above did not foresee: find the row, keep the others.
        for line, request in new:
            try:
                _write([request], by_copy=False)
                report.imported += 1
            except UNSTORABLE as exc:
                reason = (str(exc).strip() or type(exc).__name__).splitlines()[0][:300]
                report.bad(line, f"the row could not be stored: {reason}", str(request.request_id))


def _write(requests: list[Request], by_copy: bool = True) -> None:
    """Store the requests and their documents, all or none (a savepoint). On PostgreSQL by COPY,
    unless `by_copy` is off: a row refused is then reported as an INSERT words the refusal."""
    if not requests:
        return
    if by_copy and connection.vendor == "postgresql":
        try:
            with transaction.atomic():
                # The ids were looked up in this transaction: only an import running at the same
                # time can have stored one since, which the plain inserts below then skip.
                _copy_requests(requests)
            return
        except IntegrityError:
            pass
    with transaction.atomic():
        Request.objects.bulk_create(requests, ignore_conflicts=True)
        _store_documents(requests)


def _copy_requests(requests: list[Request]) -> None:
    """The requests and their documents by COPY (PostgreSQL): a fraction of the work of
    bulk_create's INSERT, on both sides. Fields are written as the models hold them, JSON fields as
    their JSON text (the one the row was checked by, when it kept it)."""
    _copy(Request, (_request_values(r) for r in requests), _REQUEST_ATTNAMES)
    # The rows models.retrieved_documents builds (rows.py counted them on each request), without
    # building a model instance for each: most of the time an import with traces spent there.
    documents = [
        (r.request_id, r.app_id, r.app_version, r.created_at, uri)
        for r in requests
        if r.chunks
        for uri in document_uris(r.chunks)
    ]
    if documents:
        _copy(RetrievedDocument, documents, ["request_id", "app_id", "app_version", "created_at", "doc_uri"])
        by_app: dict[int, list] = {}
        for _, app_id, _, created_at, uri in documents:
            by_app.setdefault(app_id, []).append((uri, created_at))
        for app_id, seen in by_app.items():
            note_documents(app_id, seen)


_REQUEST_ATTNAMES = [f.attname for f in Request._meta.concrete_fields]
_REQUEST_JSON_AT = [
    (i, f.attname) for i, f in enumerate(Request._meta.concrete_fields) if isinstance(f, models.JSONField)
]


def _request_values(request: Request) -> list:
    values = [getattr(request, name) for name in _REQUEST_ATTNAMES]
    for index, name in _REQUEST_JSON_AT:
        if values[index] is not None:
            values[index] = json_text(request, name) or json.dumps(values[index])
    return values


def _copy(model: type[models.Model], rows: Iterable, names: list[str]) -> None:
    """COPY rows, each the values of the fields `names` (attnames) in that order, into the model's
    table; JSON fields are given as their JSON text."""
    fields = {f.attname: f for f in model._meta.concrete_fields}
    columns = ", ".join(connection.ops.quote_name(fields[name].column) for name in names)
    sql = f"COPY {connection.ops.quote_name(model._meta.db_table)} ({columns}) FROM STDIN"
    with connection.cursor() as cursor, connection.wrap_database_errors, cursor.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


def _store_documents(requests: list[Request]) -> None:
    """The documents of the rows stored as this app's: an id another import stored first (the
    insert above ignored the conflict) keeps that row, which this app's documents must not join."""
    with_chunks = [r for r in requests if r.chunks]
    if not with_chunks:
        return
    ours = set(
        Request.objects.filter(
            request_id__in=[r.request_id for r in with_chunks], app_id=with_chunks[0].app_id
        ).values_list("request_id", flat=True)
    )
    store_documents(
        [doc for r in with_chunks if r.request_id in ours for doc in retrieved_documents(r)],
        ignore_conflicts=True,
    )
