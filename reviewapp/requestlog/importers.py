"""Getting historical traces into the request log: JSONL inference-table rows and MLflow traces.

Every source is turned into numbered rows (line number, dict) and goes through `import_rows`:
each row is checked on its own (a bad row is reported with its line number and reason, the
good ones are kept), and rows are written in batches of BATCH_SIZE, one transaction per batch,
with one existence query per batch, so the same `request_id` is stored once, also across runs.
A job that dies half-way is finished by running it again: what was written is skipped.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.db import DataError, IntegrityError, transaction
from django.utils import timezone

from reviewapp.catalog.models import App
from reviewapp.chains import tracing
from reviewapp.front.parsers import loads_checked

from .models import Request

BATCH_SIZE = 1000
MAX_LINE_BYTES = 5 * 1024 * 1024
MAX_TEXT_CHARS = 1_000_000
MAX_REPORTED_ERRORS = 1000
ROLES = {"system", "user", "assistant", "tool", "developer"}


class BadRow(ValueError):
    """Why one row cannot be imported; the message is shown in the report."""


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

    def as_dict(self) -> dict:
        return {
            "source": self.source,
            "rows_read": self.rows_read,
            "imported": self.imported,
            "already_present": self.already_present,
            "bad_rows": self.bad_rows,
            "errors": self.errors,
            "errors_truncated": self.bad_rows > len(self.errors),
        }


# --- one row -------------------------------------------------------------------------------


def parse_request_id(value) -> uuid.UUID:
    """A UUID in any usual spelling, or an MLflow trace id `tr-<32 hex>`."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("tr-"):
            text = text[3:]
        try:
            return uuid.UUID(text)
        except ValueError:
            pass
    if value is None or value == "":
        raise BadRow("request_id is missing")
    raise BadRow(f"request_id must be a UUID, not {str(value)[:80]!r}")


def parse_messages(value) -> list[dict]:
    """OpenAI-style messages, `{"messages": [...]}`, or plain text (one user message)."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("{"):
            try:
                decoded = json.loads(stripped)
            except ValueError:
                decoded = None
            if isinstance(decoded, dict) and "messages" in decoded:
                return parse_messages(decoded)
        if not stripped:
            raise BadRow("request is empty")
        return [{"role": "user", "content": _limited(value, "request")}]
    if isinstance(value, dict):
        if "messages" not in value:
            raise BadRow("request must be messages, {'messages': [...]} or text")
        value = value["messages"]
    if not isinstance(value, list) or not value:
        raise BadRow("request must be a non-empty list of messages")
    messages = []
    for index, message in enumerate(value):
        if not isinstance(message, dict):
            raise BadRow(f"request message {index} must be an object with role and content")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise BadRow(f"request message {index} has role {role!r}; use one of {', '.join(sorted(ROLES))}")
        if not isinstance(content, str):
            raise BadRow(f"request message {index} content must be text")
        messages.append({"role": role, "content": _limited(content, f"request message {index}")})
    return messages


def parse_response(value) -> str:
    """A string, an OpenAI chat-completion object (its first choice), or {"messages": [...]}."""
    if value is None:
        raise BadRow("response is missing")
    try:
        return _limited(tracing.response_text(value), "response")
    except (ValueError, TypeError, AttributeError):
        raise BadRow("response must be text or a chat-completion object") from None


def parse_timestamp(value) -> datetime:
    """ISO 8601 text (UTC if no zone) or Unix time in seconds or milliseconds."""
    if isinstance(value, bool):
        raise BadRow("timestamp must be ISO 8601 text or a Unix time")
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise BadRow(f"timestamp {value!r} is out of range") from None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise BadRow(f"timestamp {value[:60]!r} is not ISO 8601") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise BadRow("timestamp must be ISO 8601 text or a Unix time")


def _limited(text: str, name: str) -> str:
    if len(text) > MAX_TEXT_CHARS:
        raise BadRow(f"{name} is longer than {MAX_TEXT_CHARS} characters")
    return text


def _short_text(row: dict, name: str, default: str = "") -> str:
    value = row.get(name)
    if value is None:
        return default
    if not isinstance(value, str | int):
        raise BadRow(f"{name} must be text")
    value = str(value)
    if len(value) > 100:
        raise BadRow(f"{name} is longer than 100 characters")
    return value


MAX_COUNT = 2_147_483_647  # the database's integer column


def _optional_count(row: dict, name: str) -> int | None:
    value = row.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise BadRow(f"{name} must be a whole number from 0 to {MAX_COUNT}")
    return value


def _count_or_none(value) -> int | None:
    """A count read from a trace, or None when it is not one the database can hold."""
    return (
        value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT else None
    )


def _check_storable(request: Request) -> None:
    """PostgreSQL cannot store NUL characters or unpaired surrogates in text: say so for this row.

    The trace is not walked here (it can be large); the database refuses such a trace and the
    batch is then stored row by row, reporting that one (see `_store_batch`).
    """
    texts = [request.response, request.error, request.conversation_id, request.app_version]
    texts += [m["content"] for m in request.messages]
    if any("\x00" in text for text in texts):
        raise BadRow("the row contains a NUL character (\\u0000), which cannot be stored")
    for text in texts:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise BadRow("the row's text is not valid Unicode (an unpaired surrogate escape)") from None


def build_request(app: App, row) -> Request:
    """An unsaved Request (source `import`) from one inference-table row; BadRow if it is wrong."""
    if not isinstance(row, dict):
        raise BadRow(f"a row must be a JSON object, not {type(row).__name__}")
    request_id = parse_request_id(row.get("request_id"))
    if row.get("request") in (None, ""):
        raise BadRow("request is missing")
    messages = parse_messages(row["request"])
    response = parse_response(row.get("response"))
    trace = row.get("trace")
    if isinstance(trace, str) and trace.strip():
        try:
            trace = loads_checked(trace)
        except json.JSONDecodeError:
            raise BadRow("trace is not valid JSON") from None
        except ValueError as exc:
            raise BadRow(f"trace: {exc}") from None
    if trace in ("", None):
        trace = None
    elif not isinstance(trace, dict) or not isinstance(trace.get("info"), dict):
        raise BadRow("trace must be an MLflow trace object with 'info' and 'data'")
    try:
        facts = trace_facts(trace) if trace else {}
    except (AttributeError, TypeError, ValueError, KeyError) as exc:
        raise BadRow(f"the trace cannot be read: {exc}") from None
    if row.get("timestamp") is not None:
        created_at = parse_timestamp(row["timestamp"])
    else:
        created_at = facts.get("created_at") or timezone.now()
    status = _short_text(row, "status", Request.Status.OK)
    if status not in Request.Status.values:
        raise BadRow(f"status must be one of {', '.join(Request.Status.values)}")
    latency = _optional_count(row, "latency_ms")
    tokens = {
        name: _optional_count(row, name) for name in ("request_tokens", "response_tokens", "total_tokens")
    }
    request = Request(
        request_id=request_id,
        app=app,
        app_version=_short_text(row, "app_version"),
        conversation_id=_short_text(row, "conversation_id") or facts.get("session") or str(request_id),
        source=Request.Source.IMPORT,
        created_at=created_at,
        messages=messages,
        response=response,
        status=status,
        error=str(row.get("error") or "")[:10_000],
        trace=trace,
        mlflow_trace_id=facts.get("trace_id", ""),
        chunks=facts.get("chunks", []),
        latency_ms=latency if latency is not None else _count_or_none(facts.get("latency_ms")),
        **{
            name: value if value is not None else _count_or_none(facts.get(name))
            for name, value in tokens.items()
        },
    )
    _check_storable(request)
    return request


# --- what a trace says ---------------------------------------------------------------------


def trace_facts(trace: dict) -> dict:
    """Trace id, start time, latency, session, chunks and tokens of an MLflow trace dict."""
    info = trace.get("info") or {}
    metadata = info.get("trace_metadata") or info.get("request_metadata") or {}
    facts = {"trace_id": str(info.get("trace_id") or info.get("request_id") or "")[:100]}
    latency = info.get("execution_duration_ms", info.get("execution_time_ms"))
    if isinstance(latency, int | float) and latency >= 0:
        facts["latency_ms"] = int(latency)
    started = info.get("request_time") or info.get("timestamp_ms")
    if started is not None:
        with contextlib.suppress(BadRow):
            facts["created_at"] = parse_timestamp(started)
    session = metadata.get("mlflow.trace.session")
    if isinstance(session, str) and session:
        facts["session"] = session[:100]
    facts["chunks"] = tracing.chunks(trace)
    facts.update(tracing.token_usage(trace))
    return facts


def row_from_trace(trace: dict) -> dict:
    """An inference-table row from an MLflow trace dict (its root span's inputs and outputs)."""
    info = trace.get("info") or {}
    root = tracing.root_span(trace)
    inputs = tracing.attribute(root, tracing.SPAN_INPUTS) if root else None
    outputs = tracing.attribute(root, tracing.SPAN_OUTPUTS) if root else None
    if inputs is None:
        inputs = tracing.decode_json(info.get("request_preview") or info.get("request"))
    if outputs is None:
        outputs = tracing.decode_json(info.get("response_preview") or info.get("response"))
    client_id = info.get("client_request_id")
    trace_id = str(info.get("trace_id") or info.get("request_id") or "")
    try:
        request_id = str(parse_request_id(client_id))
    except BadRow:
        try:
            request_id = str(parse_request_id(trace_id))
        except BadRow:
            # Ids that are not UUID-shaped still map to one stable UUID, so re-imports skip.
            request_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"mlflow-trace:{trace_id}"))
    return {
        "request_id": request_id,
        "request": _messages_in(inputs),
        "response": _response_in(outputs),
        "trace": trace,
    }


def _messages_in(inputs):
    """Find chat messages in a chain's inputs (`{"messages"}`, `{"model_input": {...}}`, text)."""
    if isinstance(inputs, dict):
        if isinstance(inputs.get("messages"), list):
            return inputs["messages"]
        for value in inputs.values():
            if isinstance(value, dict) and isinstance(value.get("messages"), list):
                return value["messages"]
        texts = [v for v in inputs.values() if isinstance(v, str)]
        if len(texts) == 1:
            return texts[0]
        return json.dumps(inputs) if inputs else None
    if isinstance(inputs, list) and inputs and all(isinstance(m, dict) for m in inputs):
        return inputs
    return inputs


def _response_in(outputs):
    """The response text of a chain's outputs; other structured outputs are kept as JSON text."""
    if outputs is None:
        return None
    try:
        return tracing.response_text(outputs)
    except (ValueError, TypeError, AttributeError):
        return json.dumps(outputs, ensure_ascii=False, default=str)


# --- many rows -----------------------------------------------------------------------------


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
            _store_batch(app, batch, report)
            batch = []
            if on_batch:
                on_batch(last_line)
    if batch:
        _store_batch(app, batch, report)
    if on_batch:
        on_batch(last_line)
    return report


@transaction.atomic
def _store_batch(app: App, batch: list[tuple[int, object]], report: ImportReport) -> None:
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
        with transaction.atomic():
            Request.objects.bulk_create([request for _, request in new], ignore_conflicts=True)
        report.imported += len(new)
    except (DataError, IntegrityError):
        # Something in the batch the checks above did not foresee: find the row, keep the others.
        for line, request in new:
            try:
                with transaction.atomic():
                    Request.objects.bulk_create([request], ignore_conflicts=True)
                report.imported += 1
            except (DataError, IntegrityError) as exc:
                reason = str(exc).strip().splitlines()[0][:300]
                report.bad(line, f"the database refused the row: {reason}", str(request.request_id))


# --- sources -------------------------------------------------------------------------------


def count_lines(path: Path) -> int:
    count = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            count += chunk.count(b"\n")
        handle.seek(0, 2)
        if handle.tell():
            handle.seek(-1, 2)
            if handle.read(1) != b"\n":
                count += 1
    return count


def iter_jsonl(path: Path) -> Iterator[tuple[int, object]]:
    """(line number, row or BadRow) for each non-blank line, read as a stream."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if len(raw) > MAX_LINE_BYTES:
                yield number, BadRow(f"line is longer than {MAX_LINE_BYTES} bytes")
                continue
            try:
                text = raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                yield number, BadRow("line is not UTF-8 text")
                continue
            if not text:
                continue
            try:
                # Too deep a nesting, a NUL or an unpaired surrogate anywhere: this row's error.
                row = loads_checked(text)
            except json.JSONDecodeError as exc:
                yield number, BadRow(f"not valid JSON: {exc}")
                continue
            except ValueError as exc:
                yield number, BadRow(str(exc))
                continue
            if not isinstance(row, dict):
                yield number, BadRow(f"a line must be a JSON object, not {type(row).__name__}")
                continue
            yield number, row


def sniff_jsonl(head: bytes) -> str | None:
    """Why the start of an upload shows it is not JSONL (None when it looks fine)."""
    if not head.strip():
        return "The file is empty."
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The read may have cut a character in two at its end.
        if exc.start < len(head) - 4:
            return "The file is not UTF-8 text; JSONL is one JSON object per line."
        text = head[: exc.start].decode("utf-8")
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if not first.startswith("{"):
        return "The file is not JSONL: its first line is not a JSON object."
    if "\n" in text.strip():
        try:
            json.loads(first)
        except (ValueError, RecursionError) as exc:
            return f"The file is not JSONL: line 1 is not valid JSON ({exc})."
    return None


class ExperimentNotLinked(LookupError):
    """The app may not import from this experiment; the message is the same whether it exists or not."""

    def __init__(self, experiment: str):
        shown = experiment if len(experiment) <= 100 else experiment[:100] + "…"
        super().__init__(f"No experiment {shown!r} is linked to this app; ask an administrator to link it")


def _find_experiment(client, mlflow, ref: str):
    """The live experiment with this id or name, or None; other tracking-store errors propagate."""
    if ref.isdigit():
        try:
            found = client.get_experiment(ref)
        except mlflow.exceptions.MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
        else:
            if found is not None and found.lifecycle_stage != "deleted":
                return found
    found = client.get_experiment_by_name(ref)
    return found if found is not None and found.lifecycle_stage != "deleted" else None


def importable_experiments(app: App) -> list:
    """The MLflow experiments `app` may import from: its own and those staff linked to it.

    Only these are looked up, never what the user typed, so nothing is learnt about the others.
    """
    from reviewapp.chains.mlflow_setup import configure

    mlflow = configure()
    client = mlflow.MlflowClient()
    found = {}
    for ref in app.importable_experiment_refs():
        experiment = _find_experiment(client, mlflow, ref)
        if experiment is not None:
            found.setdefault(experiment.experiment_id, experiment)
    return list(found.values())


def resolve_experiment(app: App, experiment: str) -> str:
    """The id of an experiment `app` may import from, given by id or name; ExperimentNotLinked if none."""
    experiment = experiment.strip()
    for candidate in importable_experiments(app):
        if experiment in (candidate.experiment_id, candidate.name):
            return candidate.experiment_id
    raise ExperimentNotLinked(experiment)


def check_experiment_linked(app: App, experiment_id: str, shown_as: str) -> None:
    """Refuse a queued import whose experiment the app may no longer read (links can be removed)."""
    if experiment_id not in {e.experiment_id for e in importable_experiments(app)}:
        raise ExperimentNotLinked(shown_as)


def iter_mlflow(
    experiment_id: str, filter_string: str = "", max_results: int | None = None, page_size: int = 200
) -> Iterator[tuple[int, object]]:
    """(position, row) for each trace of an experiment, page by page, oldest first."""
    from reviewapp.chains.mlflow_setup import configure

    mlflow = configure()
    client = mlflow.MlflowClient()
    number, token = 0, None
    while True:
        size = page_size if max_results is None else min(page_size, max_results - number)
        if size <= 0:
            return
        page = client.search_traces(
            locations=[experiment_id],
            filter_string=filter_string or None,
            max_results=size,
            order_by=["timestamp_ms ASC"],
            page_token=token,
        )
        for trace in page:
            number += 1
            try:
                yield number, row_from_trace(trace.to_dict())
            except Exception as exc:  # one unreadable trace must not stop the others
                yield number, BadRow(f"trace {trace.info.trace_id} cannot be read: {exc}")
        token = page.token
        if not token:
            return


def run_import(job) -> dict:
    """The work of an `import_traces` job (see services.start_*_import for its params)."""
    params = job.params
    app = job.app
    source = params["source"]
    report = ImportReport(source=source)
    if source in ("jsonl", "api"):
        path = Path(params["path"])
        if not path.exists():
            raise FileNotFoundError(f"the uploaded file is gone ({path.name}); upload it again")
        job.report_progress(0, count_lines(path))
        import_rows(app=app, rows=iter_jsonl(path), report=report, on_batch=job.report_progress)
        path.unlink(missing_ok=True)
    elif source == "mlflow":
        check_experiment_linked(
            app, params["experiment_id"], params.get("experiment") or params["experiment_id"]
        )
        job.report_progress(0, params.get("max_results"))
        rows = iter_mlflow(
            params["experiment_id"], params.get("filter_string", ""), params.get("max_results")
        )
        import_rows(app=app, rows=rows, report=report, on_batch=job.report_progress)
    else:
        raise ValueError(f"unknown import source {source!r}")
    result = report.as_dict()
    if source == "mlflow":
        result["experiment_id"] = params["experiment_id"]
    return result
