"""Many imported rows: checked one by one, stored in batches, counted in an import report.

Every source gives numbered rows (line number, dict or BadRow) to `import_rows`, or a JSONL file
to `import_jsonl`, which reads it in a process of its own: a bad row is reported with its line
number and reason and the good ones are kept; rows are written in batches of BATCH_SIZE, one
transaction per batch, with one existence query per batch, so the same `request_id` is stored
once, also across runs. A job that dies half-way is finished by running it again: what was
written is skipped. On PostgreSQL a batch is written by COPY, which costs both sides a fraction of
what an INSERT of the same rows does.
"""

import multiprocessing
import os
import pickle
import signal
import sys
import threading
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager, suppress
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path

from django.db import DatabaseError, IntegrityError, connection, connections, models, transaction

from reviewapp.catalog.models import App
from reviewapp.lib.compiled import server_binding_cursor

from .jsonl_import import iter_jsonl
from .models import Request, RetrievedDocument, note_documents, retrieved_documents, store_documents
from .rows import COLUMNS, BadRow, ImportedRow, build_row

BATCH_SIZE = 1000
# What storing a row the checks let through may still raise: the database refusing it, or a trace
# too deep to encode as JSON.
UNSTORABLE = (DatabaseError, ValueError, RecursionError)
MAX_REPORTED_ERRORS = 1000
# How long the reader thread may hold the GIL while this one waits for it (CPython's default is 5 ms).
SWITCH_INTERVAL_SECONDS = 0.0005


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
    """Validate and store numbered rows in batches; a row given as a BadRow is reported as is.

    The next batch is read and checked (a thread, which touches no database) while this one is
    written: psycopg lets go of the GIL while the database works, so the two sides work at once
    instead of by turns. Batches are stored one after the other, in order, by this thread."""
    with closing(_built_by_thread(app, iter(rows))) as batches:
        return _store_all(app, batches, report, on_batch)


def import_jsonl(
    *, app: App, path: Path, report: ImportReport, on_batch: Callable[[int], None] | None = None
) -> ImportReport:
    """import_rows over the rows of a JSONL file. Where the platform can fork, the file is read and
    its rows built by a process of its own, which holds its own GIL: a thread building them held
    this one's half the time, and the building (JSON, traces) is most of an import's own work."""
    if not hasattr(os, "fork"):
        return import_rows(app=app, rows=iter_jsonl(path), report=report, on_batch=on_batch)
    with closing(_built_by_process(app, path)) as batches:
        return _store_all(app, batches, report, on_batch)


def _store_all(
    app: App,
    batches: Iterator[list[tuple[int, ImportedRow | BadRow, str]]],
    report: ImportReport,
    on_batch: Callable[[int], None] | None,
) -> ImportReport:
    """Store the built batches in order, one transaction each, calling on_batch after each full one
    and at the end with the last line read."""
    last_line = 0
    for built in batches:
        store_batch(app, built, report)
        last_line = built[-1][0]
        if on_batch and len(built) == BATCH_SIZE:
            on_batch(last_line)
    if on_batch:
        on_batch(last_line)
    return report


def _built_by_thread(app: App, source: Iterator[tuple[int, object]]):
    """The batches of `source`, each built by a reader thread while the one before it is stored
    (with the GIL handed over quickly between the two)."""
    with quick_handoffs(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-rows") as reader:
        pending = reader.submit(build_batch, app, source)
        while built := pending.result():
            pending = reader.submit(build_batch, app, source)
            yield built


class ReaderStopped(RuntimeError):
    """The process reading an import's file ended without saying it was done."""


def _built_by_process(app: App, path: Path):
    """The batches of the JSONL file at `path`, built by a forked process (_read_in_child) and sent
    over a pipe: a batch the child has built waits in the pipe, so it is at most a batch ahead.

    os.fork, not multiprocessing: a Celery worker of the prefork pool is a daemonic process, which
    multiprocessing refuses children."""
    receiving, sending = multiprocessing.Pipe(duplex=False)
    try:
        pid = os.fork()
    except OSError:  # no process to be had (a limit reached): read in a thread, as other sources do
        receiving.close()
        sending.close()
        yield from _built_by_thread(app, iter_jsonl(path))
        return
    if pid == 0:  # the child, which only ever leaves through os._exit
        code = 1
        try:
            receiving.close()
            _read_in_child(app, path, sending)
            code = 0
        finally:
            os._exit(code)
    sending.close()
    reaped = done = False
    try:
        while not done:
            try:
                message = receiving.recv_bytes()
            except (EOFError, OSError):  # OSError: it died writing a message
                exit_code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
                reaped = True
                raise ReaderStopped(f"the process reading the file stopped (exit code {exit_code})") from None
            done = not message
            if message:
                kind, payload = pickle.loads(message)
                if kind == "failed":
                    done = True  # the child ends once this is sent
                    raise payload
                yield payload
    finally:
        receiving.close()
        if not reaped:
            if not done:  # this side stopped first: the child may be waiting on a full pipe
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def _read_in_child(app: App, path: Path, sending) -> None:
    """The forked reader: build each batch of the file and send it, then an empty message; or send
    what failed. Signals are the default's again (the parent's handlers are a Celery worker's). It
    must not speak on the database connections it inherited, which are the parent's: they are put
    aside, never closed here (closing one could end the parent's session), so that a query made
    here by mistake opens one of its own."""
    for number in (
        signal.SIGTERM,
        signal.SIGINT,
        signal.SIGHUP,
        signal.SIGQUIT,
        signal.SIGUSR1,
        signal.SIGUSR2,
    ):
        signal.signal(number, signal.SIG_DFL)
    for conn in connections.all(initialized_only=True):
        _INHERITED.append(conn.connection)
        conn.connection = None
    try:
        source = iter_jsonl(path)
        while built := build_batch(app, source):
            sending.send_bytes(
                pickle.dumps(("built", [(line, _portable(row), given) for line, row, given in built]), PICKLE)
            )
        sending.send_bytes(b"")
    except Exception as exc:  # noqa: BLE001 - anything that failed is the parent's to raise
        exc.add_note(f"in the process reading the file:\n{traceback.format_exc()}")
        try:
            message = pickle.dumps(("failed", exc), PICKLE)
        except Exception:  # noqa: BLE001 - an exception that cannot be pickled is sent as its text
            message = pickle.dumps(("failed", ReaderStopped(f"{type(exc).__name__}: {exc}")), PICKLE)
        with suppress(OSError):
            sending.send_bytes(message)


# In a forked reader, the parent's database connections, kept from being closed there.
_INHERITED: list = []


def _portable(row: ImportedRow | BadRow) -> ImportedRow | BadRow:
    return row.without_decoded_json() if isinstance(row, ImportedRow) else row


PICKLE = pickle.HIGHEST_PROTOCOL


_handoffs_lock = threading.Lock()
_handoffs_users = 0
_handoffs_saved = 0.0


@contextmanager
def quick_handoffs():
    """A shorter GIL switch interval while imports read by a thread run. Each statement this thread
    sends lets go of the GIL, and may wait the reader's whole interval to get it back: with
    CPython's 5 ms, that was a tenth of a traced import's time on a 2-core machine, and a fifth of
    a plain one's. The interval is the process's: the first import to start sets it and the last
    one to end puts it back."""
    global _handoffs_users, _handoffs_saved
    with _handoffs_lock:
        if _handoffs_users == 0:
            _handoffs_saved = sys.getswitchinterval()
            sys.setswitchinterval(min(_handoffs_saved, SWITCH_INTERVAL_SECONDS))
        _handoffs_users += 1
    try:
        yield
    finally:
        with _handoffs_lock:
            _handoffs_users -= 1
            if _handoffs_users == 0:
                sys.setswitchinterval(_handoffs_saved)


def build_batch(
    app: App, source: Iterator[tuple[int, object]]
) -> list[tuple[int, ImportedRow | BadRow, str]]:
    """The next BATCH_SIZE rows of `source`, each built (rows.build_row) or the BadRow saying why
    not, with the request_id the row gave (for the report); empty at the end."""
    built = []
    for line, row in islice(source, BATCH_SIZE):
        if isinstance(row, BadRow):
            built.append((line, row, ""))
            continue
        try:
            built.append((line, build_row(app, row), ""))
        except BadRow as exc:
            built.append((line, exc, str(row.get("request_id", ""))[:80] if isinstance(row, dict) else ""))
    return built


@transaction.atomic
def store_batch(app: App, built: list[tuple[int, ImportedRow | BadRow, str]], report: ImportReport) -> None:
    candidates: dict[uuid.UUID, tuple[int, ImportedRow]] = {}
    for line, row, given_id in built:
        report.rows_read += 1
        if isinstance(row, BadRow):
            report.bad(line, str(row), given_id)
            continue
        if row.request_id in candidates:
            report.already_present += 1  # the same id earlier in this batch: stored once
            continue
        candidates[row.request_id] = (line, row)
    if not candidates:
        return
    existing = _owners(list(candidates))
    trace_ids = [r.mlflow_trace_id for _, r in candidates.values() if r.mlflow_trace_id]
    # A trace first logged by the chat screen is already here under its own request_id.
    known_traces = _known_traces(app, trace_ids) if trace_ids else set()
    new = []
    for request_id, (line, row) in candidates.items():
        owner = existing.get(request_id)
        if owner is not None and owner != app.pk:
            report.bad(line, f"request_id {request_id} already belongs to another app", str(request_id))
        elif owner is not None or row.mlflow_trace_id in known_traces:
            report.already_present += 1
        else:
            new.append((line, row))
    try:
        _write([row for _, row in new])
        report.imported += len(new)
    except UNSTORABLE:
        # Something in the batch the checks above did not foresee: find the row, keep the others.
        for line, row in new:
            try:
                _write([row], by_copy=False)
                report.imported += 1
            except UNSTORABLE as exc:
                reason = (str(exc).strip() or type(exc).__name__).splitlines()[0][:300]
                report.bad(line, f"the row could not be stored: {reason}", str(row.request_id))


def _owners(request_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """The app of each of these requests stored already."""
    if connection.vendor != "postgresql":
        return dict(Request.objects.filter(request_id__in=request_ids).values_list("request_id", "app_id"))
    # One array parameter, in binary: the ORM spends more building an IN of a thousand ids than the
    # database spends finding them.
    with server_binding_cursor(connection) as cursor:
        cursor.execute(
            f"SELECT request_id, app_id FROM {connection.ops.quote_name(Request._meta.db_table)} "
            "WHERE request_id = ANY(%b)",
            [request_ids],
        )
        return dict(cursor.fetchall())


def _known_traces(app: App, trace_ids: list[str]) -> set[str]:
    """Which of these MLflow trace ids the app's log has already."""
    # `<> ''` lets the planner use req_app_trace, which holds only the traced rows.
    if connection.vendor != "postgresql":
        return set(
            Request.objects.filter(app=app, mlflow_trace_id__in=trace_ids)
            .exclude(mlflow_trace_id="")
            .order_by()  # a set: the log's order would make it walk the app's rows by time
            .values_list("mlflow_trace_id", flat=True)
        )
    with server_binding_cursor(connection) as cursor:
        cursor.execute(
            f"SELECT mlflow_trace_id FROM {connection.ops.quote_name(Request._meta.db_table)} "
            "WHERE app_id = %s AND mlflow_trace_id = ANY(%b::text[]) AND mlflow_trace_id <> ''",
            [app.pk, trace_ids],
        )
        return {trace_id for (trace_id,) in cursor.fetchall()}


def _write(rows: list[ImportedRow], by_copy: bool = True) -> None:
    """Store the rows and their documents, all or none (a savepoint). On PostgreSQL by COPY,
    unless `by_copy` is off: a row refused is then reported as an INSERT words the refusal."""
    if not rows:
        return
    if by_copy and connection.vendor == "postgresql":
        try:
            with transaction.atomic():
                # The ids were looked up in this transaction: only an import running at the same
                # time can have stored one since, which the plain inserts below then skip.
                _copy_rows(rows)
            return
        except IntegrityError:
            pass
    requests = [row.request() for row in rows]
    with transaction.atomic():
        Request.objects.bulk_create(requests, ignore_conflicts=True)
        _store_documents(requests)


def _copy_rows(rows: list[ImportedRow]) -> None:
    """The rows and their documents by COPY (PostgreSQL): a fraction of the work of bulk_create's
    INSERT, on both sides. The values are written as the rows hold them, JSON fields as the JSON
    text each was checked by."""
    _copy(Request, (row.copied() for row in rows), COLUMNS)
    # The rows models.retrieved_documents builds (rows.py listed them on each row), without
    # building a model instance for each.
    documents = [
        (row.request_id, row.app_id, row.app_version, row.created_at, uri)
        for row in rows
        if row.uris
        for uri in row.uris
    ]
    if documents:
        _copy(RetrievedDocument, documents, ["request_id", "app_id", "app_version", "created_at", "doc_uri"])
        by_app: dict[int, list] = {}
        for _, app_id, _, created_at, uri in documents:
            by_app.setdefault(app_id, []).append((uri, created_at))
        for app_id, seen in by_app.items():
            note_documents(app_id, seen)


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
