import logging
import re
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from django.conf import settings
from django.core.files import File
from django.db import transaction

from reviewapp.catalog.models import App
from reviewapp.chains.base import ChainError, ChainResult, count_or_none
from reviewapp.jobs.models import Job
from reviewapp.lib.text import storable, storable_json
from reviewapp.monitoring import metrics

from .jsonl_import import count_lines, sniff_jsonl
from .mlflow_import import ExperimentNotLinked, check_experiment_linked, iter_mlflow, resolve_experiment
from .models import Request, retrieved_documents, store_documents
from .storage import ImportReport, import_jsonl, import_rows

logger = logging.getLogger(__name__)

# Imports of historical traces: see rows.py for the rows they take, storage.py for how.
IMPORT_KIND = "import_traces"
MAX_API_ROWS = 100_000


def log_turn(
    *,
    app: App,
    user,
    source: str,
    messages: list[dict],
    conversation_id: str | None = None,
    result: ChainResult | None = None,
    error: str = "",
    failure: ChainError | None = None,
    request_id: uuid.UUID | None = None,
    created_at=None,
) -> Request:
    """Write one request-log row for a turn: answered (`result`, complete or not) or failed (`error`,
    and the `failure` whose trace is linked).

    Whatever the chain returned is stored: text no database can hold is made storable
    (lib/text.py) and the row says so (`text_altered`).
    """
    fields = {
        "app": app,
        "app_version": app.version,
        "conversation_id": conversation_id or str(uuid.uuid4()),
        "source": source,
        "user": user if getattr(user, "is_authenticated", False) else None,
        "messages": messages,
    }
    if request_id:
        fields["request_id"] = request_id
    if created_at:
        fields["created_at"] = created_at
    if result is not None:
        fields.update(
            response=result.response,
            status=Request.Status.OK if result.complete else Request.Status.INCOMPLETE,
            error="" if result.complete else (result.incomplete_reason or "The answer stopped part-way"),
            trace=result.trace,
            mlflow_trace_id=result.mlflow_trace_id,
            chunks=result.chunks,
            latency_ms=result.latency_ms,
            load_ms=result.load_ms,
            request_tokens=result.request_tokens,
            response_tokens=result.response_tokens,
            total_tokens=result.total_tokens,
        )
        if result.app_version:
            fields["app_version"] = result.app_version[:100]
    else:
        fields.update(status=Request.Status.ERROR, error=error or "The chain failed")
        if failure is not None:
            fields.update(trace=failure.trace, mlflow_trace_id=failure.mlflow_trace_id[:100])
    altered = False
    for name in ("response", "error", "messages", "trace", "chunks", "app_version", "mlflow_trace_id"):
        if name in fields:
            fields[name], changed = storable_json(fields[name])
            altered |= changed
    request = Request(**fields, text_altered=altered)
    documents = retrieved_documents(request)
    if documents or transaction.get_connection().in_atomic_block:
        # Inside a caller's transaction, the savepoint keeps a refused row from breaking it (_logged
        # then logs the bare answer).
        with transaction.atomic():
            request.save(force_insert=True)
            store_documents(documents)
    else:
        # One INSERT is atomic by itself: no BEGIN and COMMIT round trips of their own.
        request.save(force_insert=True)
    # Live traffic only: an import, or a turn dated in the past (the demo's history), replays it.
    if source != Request.Source.IMPORT and not created_at:
        from reviewapp.judges import online  # judges build on the request log, not the reverse

        transaction.on_commit(lambda: metrics.count_turn(request))
        transaction.on_commit(lambda: online.after_turn(request))
    return request


class Turn(NamedTuple):
    """A logged turn, and the chain's error when it failed (the row then has status `error`)."""

    request: Request
    error: ChainError | None = None


_TOKEN = re.compile(r"\w+|[^\w\s]")


def approximate_tokens(text: str) -> int:
    """Token count when the chain reports none: words and punctuation marks count one each.

    The same rule as the demo chain's; within about 25 % of BPE tokenizers on English prose.
    """
    return len(_TOKEN.findall(text or ""))


def _message_text(message: dict) -> str:
    content = message.get("content", "")
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content or "")


def _with_counts(result: ChainResult, messages: list[dict], wall_ms: int) -> ChainResult:
    if result.latency_ms is None:
        # The adapter did not time the chain itself: the wall time, less loading the model.
        result.latency_ms = max(wall_ms - (result.load_ms or 0), 0)
    if result.request_tokens is None:
        result.request_tokens = count_or_none(sum(approximate_tokens(_message_text(m)) for m in messages))
    if result.response_tokens is None:
        result.response_tokens = count_or_none(approximate_tokens(result.response))
    if result.total_tokens is None and None not in (result.request_tokens, result.response_tokens):
        # A reported count near the column's limit plus an estimate may not fit: then it is unknown.
        result.total_tokens = count_or_none(result.request_tokens + result.response_tokens)
    result.latency_ms, result.load_ms = count_or_none(result.latency_ms), count_or_none(result.load_ms)
    return result


def chain_timeout(app: App) -> float:
    return float(app.timeout_seconds or settings.CHAIN_TIMEOUT_SECONDS)


def run_turn(
    *, app: App, user, source: str, messages: list[dict], conversation_id: str | None = None
) -> Turn:
    """Send `messages` (the history and the new user message) to the app's chain and log the turn."""
    for item in stream_turn(
        app=app, user=user, source=source, messages=messages, conversation_id=conversation_id, stream=False
    ):
        if isinstance(item, Turn):
            return item
    raise AssertionError("stream_turn ended without a turn")  # pragma: no cover


def stream_turn(
    *,
    app: App,
    user,
    source: str,
    messages: list[dict],
    conversation_id: str | None = None,
    stream: bool = True,
) -> Iterator[str | Turn]:
    """Like run_turn, yielding the answer's text deltas as they come, then the logged Turn."""
    from reviewapp.chains.adapters import get_adapter

    conversation_id = conversation_id or str(uuid.uuid4())
    log = {
        "app": app,
        "user": user,
        "source": source,
        "messages": messages,
        "conversation_id": conversation_id,
    }
    started = time.monotonic()
    result = answer = None
    shown: list[str] = []  # what the reader was given, kept should it leave mid-answer
    try:
        adapter = get_adapter(app, conversation_id)
        timeout = chain_timeout(app)
        if stream:
            for item in (answer := adapter.stream(messages, timeout=timeout)):
                if isinstance(item, ChainResult):
                    result = item
                elif item:
                    shown.append(storable(item)[0])
                    yield shown[-1]
        else:
            result = adapter.invoke(messages, timeout=timeout)
    except ChainError as exc:
        yield _logged(log, error=exc)
        return
    except Exception as exc:  # a bug in an adapter or a chain: still a logged, readable failure
        logger.exception("chain call failed unexpectedly for app %s", app.slug)
        yield _logged(log, error=ChainError(f"The chain failed unexpectedly: {type(exc).__name__}: {exc}"))
        return
    except GeneratorExit:
        # The reader went away mid-answer: the turn is still logged, with what it had been given (an
        # incomplete answer), or as failed when nothing came. The chain is closed first, so it stops
        # and ends its trace, which the row then links (when the adapter keeps one).
        reason = "The answer was abandoned: the connection closed before it was complete"
        trace, trace_id = None, ""
        if answer is not None:
            answer.close()
            trace, trace_id = getattr(answer, "trace", None), getattr(answer, "mlflow_trace_id", "")
        if shown:
            partial = ChainResult(
                response="".join(shown),
                trace=trace,
                mlflow_trace_id=trace_id,
                complete=False,
                incomplete_reason=reason,
            )
            _logged(log, result=_with_counts(partial, messages, round((time.monotonic() - started) * 1000)))
        else:
            _logged(log, error=ChainError(reason, trace=trace, mlflow_trace_id=trace_id))
        raise
    if result is None:
        yield _logged(log, error=ChainError("The chain ended its answer without a result"))
        return
    wall_ms = round((time.monotonic() - started) * 1000)
    yield _logged(log, result=_with_counts(result, messages, wall_ms))


def _logged(log: dict, *, result: ChainResult | None = None, error: ChainError | None = None) -> Turn:
    """The turn, logged; should the row be refused all the same, the refusal is logged in its place,
    so that every turn leaves a row and the caller always gets a Turn to answer with."""
    try:
        if error is not None:
            return Turn(log_turn(**log, error=str(error), failure=error), error)
        return Turn(log_turn(**log, result=result))
    except Exception as exc:
        logger.exception("could not log a turn of app %s", log["app"].slug)
        refusal = f"{type(exc).__name__}"
    if result is not None:
        # The answer itself is worth more than what came with it: keep it, without the trace, chunks
        # and counts the database refused.
        bare = ChainResult(
            response=result.response,
            complete=result.complete,
            incomplete_reason=result.incomplete_reason,
            mlflow_trace_id=result.mlflow_trace_id,
        )
        try:
            return Turn(log_turn(**log, result=bare))
        except Exception:
            logger.exception("could not log the bare answer of a turn of app %s", log["app"].slug)
    refused = ChainError(f"The answer could not be stored: {refusal}")
    return Turn(log_turn(**log, error=str(refused)), refused)


# --- imports of historical traces ----------------------------------------------------------


def _keep_import_file(content) -> str:
    """Store an import's rows (a File) where every worker reads them: the default storage, a
    folder under MEDIA_ROOT or the shared bucket. Returns the name the job reads it by."""
    from django.core.files.storage import default_storage

    from reviewapp.lib import files

    name = f"imports/{uuid.uuid4()}.jsonl"
    files.save(default_storage, name, content)
    return name


def _enqueue_import(*, app: App, user, params: dict):
    from django.core.files.storage import default_storage

    from reviewapp.jobs.services import enqueue
    from reviewapp.lib import files

    from .tasks import import_traces

    if "file" not in params:
        return enqueue(kind=IMPORT_KIND, app=app, user=user, params=params, task=import_traces)
    # The job row is what names the file: should it not be committed, the file goes too.
    with files.removed_unless_committed(default_storage, params["file"]):
        return enqueue(kind=IMPORT_KIND, app=app, user=user, params=params, task=import_traces)


def start_jsonl_import(*, app: App, user, upload) -> Job:
    """Keep an uploaded JSONL file where the worker reads it, and queue its import.

    A file that is empty, binary or whose first line is not a JSON object is refused here
    (ValidationError on `file`), before anything is stored.
    """
    from django.core.exceptions import ValidationError

    head = upload.read(64 * 1024)
    problem = sniff_jsonl(head)
    if problem:
        raise ValidationError({"file": [problem]})
    upload.seek(0)
    name = _keep_import_file(upload)
    return _enqueue_import(
        app=app, user=user, params={"source": "jsonl", "file": name, "filename": upload.name[:200]}
    )


def start_rows_import(*, app: App, user, rows: list) -> Job:
    """Queue the import of rows sent as JSON (the API); row n is reported as line n."""
    import json

    from django.core.exceptions import ValidationError

    if not isinstance(rows, list) or not rows:
        raise ValidationError({"rows": ["send a non-empty list of rows"]})
    if len(rows) > MAX_API_ROWS:
        raise ValidationError({"rows": [f"at most {MAX_API_ROWS} rows per call; send the rest in another"]})
    with tempfile.TemporaryFile() as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode())
            out.write(b"\n")
        name = _keep_import_file(File(out, name="rows.jsonl"))
    return _enqueue_import(app=app, user=user, params={"source": "api", "file": name, "rows": len(rows)})


@transaction.atomic
def start_mlflow_import(
    *, app: App, user, experiment: str, filter_string: str = "", max_results: int | None = None
) -> Job:
    """Queue the import of an MLflow experiment's traces; an experiment the app may not import from
    (not its own nor linked by staff, or missing: the same answer) or a filter the tracking store
    refuses is a ValidationError naming the field, and nothing is queued."""
    from django.core.exceptions import ValidationError

    from reviewapp.chains.mlflow_setup import configure

    experiment = (experiment or "").strip()
    if not experiment:
        raise ValidationError({"experiment": ["give an experiment id or name"]})
    mlflow = configure()
    try:
        experiment_id = resolve_experiment(app, experiment)
    except ExperimentNotLinked as exc:
        raise ValidationError({"experiment": [str(exc)]}) from None
    except mlflow.exceptions.MlflowException as exc:
        raise ValidationError({"experiment": [f"the tracking store answered: {exc.message}"]}) from None
    try:
        mlflow.MlflowClient().search_traces(
            locations=[experiment_id], filter_string=filter_string or None, max_results=1, include_spans=False
        )
    except mlflow.exceptions.MlflowException as exc:
        raise ValidationError({"filter_string": [f"MLflow cannot use this filter: {exc.message}"]}) from None
    params = {
        "source": "mlflow",
        "experiment": experiment,
        "experiment_id": experiment_id,
        "filter_string": filter_string or "",
        "max_results": max_results,
    }
    return _enqueue_import(app=app, user=user, params=params)


def _import_uploaded(job: Job, report: ImportReport) -> None:
    """Import the rows of the job's file, read through the default storage (a worker on another
    machine than the web that stored it reads the shared bucket), then remove the file."""
    from django.core.files.storage import default_storage

    from reviewapp.lib import files

    name = job.params.get("file")
    if name is None:  # queued by an earlier release, which kept a path on the web's machine
        path = Path(job.params["path"])
        if not path.exists():
            raise FileNotFoundError(f"the uploaded file is gone ({path.name}); upload it again")
        job.report_progress(0, count_lines(path))
        import_jsonl(app=job.app, path=path, report=report, on_batch=job.report_progress)
        path.unlink(missing_ok=True)
        return
    if not default_storage.exists(name):
        raise FileNotFoundError(f"the uploaded file is gone ({Path(name).name}); upload it again")
    with files.local_copy(default_storage, name) as path:
        job.report_progress(0, count_lines(path))
        import_jsonl(app=job.app, path=path, report=report, on_batch=job.report_progress)
    default_storage.delete(name)


def run_import(job: Job) -> dict:
    """The work of an `import_traces` job, from the params the start_*_import above gave it."""
    params = job.params
    app = job.app
    source = params["source"]
    report = ImportReport(source=source)
    if source in ("jsonl", "api"):
        _import_uploaded(job, report)
    elif source == "mlflow":
        check_experiment_linked(
            app, params["experiment_id"], params.get("experiment") or params["experiment_id"]
        )
        job.report_progress(0, params.get("max_results"))
        left_out = {"other_apps": 0}
        rows = iter_mlflow(
            params["experiment_id"],
            params.get("filter_string", ""),
            params.get("max_results"),
            app=app,
            left_out=left_out,
        )
        import_rows(app=app, rows=rows, report=report, on_batch=job.report_progress)
    else:
        raise ValueError(f"unknown import source {source!r}")
    result = report.as_dict()
    if source == "mlflow":
        result["experiment_id"] = params["experiment_id"]
        # Not bad rows: traces another app's chain logged into a shared experiment.
        result["other_apps"] = left_out["other_apps"]
    return result
