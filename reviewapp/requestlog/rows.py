"""One imported row: an inference-table row (a dict) checked and turned into an unsaved Request.

Every check says what is wrong with the row in a BadRow, whose message the import report shows
with the row's line number. Text no database can store (NUL, unpaired surrogates) is no reason to
lose a turn: it is made storable, field by field, and the row says so (`text_altered`).
"""

import contextlib
import json
import math
import re
import uuid
from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.utils import timezone

from reviewapp.catalog.models import App
from reviewapp.chains import tracing
from reviewapp.chains.base import MAX_COUNT, count_or_none, response_text
from reviewapp.chains.messages import check_messages
from reviewapp.lib.parsers import problem_in
from reviewapp.lib.text import storable, storable_json

from .models import Request, cut_doc_uri

MAX_TEXT_CHARS = 1_000_000


class BadRow(ValueError):
    """Why one row cannot be imported; the message is shown in the report."""


def loads_storable(text: str | bytes):
    """json.loads refusing NaN and Infinity and too deep a nesting (ValueError saying so); unlike
    lib.parsers.loads_checked, NUL and unpaired surrogates pass (a row makes them storable)."""
    try:
        data = json.loads(text, parse_constant=_not_json)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    # Only the nesting is left to find once the text is made storable.
    problem = problem_in(storable_json(data)[0])
    if problem:
        raise ValueError(problem)
    return data


def _not_json(name: str):
    raise ValueError(f"{name} is not valid JSON")


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


# Text request_ids are mapped into this namespace, together with the app's id, so importing the
# same file again finds the same rows, and two apps may both have a row "42".
TEXT_ID_NAMESPACE = uuid.UUID("5b0c1e7a-9a39-4c55-8d1e-3f6f7c2a9e10")
MAX_REQUEST_ID_CHARS = 500


def request_uuid(app: App, value) -> uuid.UUID:
    """The row's request_id: a UUID (or `tr-<32 hex>`) as it is; any other text or number is mapped
    to one stable UUID for this app; none at all is a fresh UUID (so importing that row again
    stores it again)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return uuid.uuid4()
    with contextlib.suppress(BadRow):
        return parse_request_id(value)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BadRow("request_id must be text")
    text = str(value).strip()
    if len(text) > MAX_REQUEST_ID_CHARS:
        raise BadRow(f"request_id is longer than {MAX_REQUEST_ID_CHARS} characters")
    # surrogatepass: an unpaired surrogate (made storable later) must not fail the mapping.
    return uuid.uuid5(TEXT_ID_NAMESPACE, f"{app.pk}:{text}".encode("utf-8", "surrogatepass"))


def _texts(message: dict) -> list[str]:
    """The text of a message: its content, or its text parts."""
    content = message["content"]
    return [content] if isinstance(content, str) else [part["text"] for part in content]


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
    try:
        # Recorded history is kept whatever its length; only what the database can hold is limited.
        check_messages(value, max_messages=None, max_bytes=None)
    except ValidationError as exc:
        raise BadRow(f"request: {exc.message}") from None
    for index, message in enumerate(value):
        _limited("".join(_texts(message)), f"request message {index}")
    return [{"role": m["role"], "content": m["content"]} for m in value]


def parse_response(value) -> str:
    """A string, an OpenAI chat-completion object (its first choice), or {"messages": [...]}."""
    if value is None:
        raise BadRow("response is missing")
    try:
        return _limited(response_text(value), "response")
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


def _optional_count(row: dict, name: str) -> int | None:
    value = row.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise BadRow(f"{name} must be a whole number from 0 to {MAX_COUNT}")
    return value


# The JSON fields: a trace is kilobytes of strings, and walking them in Python is most of the cost of
# making a row storable.
_JSON_FIELDS = ("messages", "trace", "chunks")
# The text fields that hold what the chain or the row said (always str once built).
_STR_FIELDS = ("response", "error", "conversation_id", "app_version", "mlflow_trace_id")

# An unpaired surrogate, which _ENCODER writes as it is; the escape of NUL or of
# a surrogate (paired ones too: only decoding tells).
_SURROGATE = re.compile("[\ud800-\udfff]")
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89abcdefABCDEF])")
# One encoder for every row: json.dumps builds a new one for each call with options.
_ENCODER = json.JSONEncoder(ensure_ascii=False)


def _maybe_unstorable(text: str) -> bool:
    """Whether the JSON text _ENCODER (ensure_ascii off) wrote for a value may encode something
    storable_json changes: NUL (written as its escape), an unpaired surrogate, NaN or Infinity.
    Escapes a string spells out count too: a trace's attributes are JSON text, decoded again into
    the chunks. Substring searches first: a regex over kilobytes costs more than they do."""
    return (
        "NaN" in text
        or "Infinity" in text
        or ("\\u" in text and _UNSTORABLE_ESCAPE.search(text) is not None)
        or (not text.isascii() and _SURROGATE.search(text) is not None)
    )


def _storable_value(value) -> tuple[object, bool, str | None]:
    """storable_json(value), and the value's JSON text when it was already storable: one pass in C
    over the encoded text shows that, and COPY writes the same text (storage.py). What the encoding
    cannot take or may hold something to change (storable_json may still leave it as it is) is walked."""
    if value is not None:
        try:
            text = _ENCODER.encode(value)
        except (TypeError, ValueError, RecursionError):
            text = None
        if text is not None and not _maybe_unstorable(text):
            return value, False, text
    value, changed = storable_json(value)
    return value, changed, None


# The Request's columns in table order: a built row holds its values in this order, which COPY
# writes as they are and Request(*values) takes as they are.
_FIELDS = Request._meta.concrete_fields
COLUMNS = [field.attname for field in _FIELDS]
_AT = {name: index for index, name in enumerate(COLUMNS)}
_JSON_AT = [(_AT[name], name) for name in _JSON_FIELDS]
_STATUSES = frozenset(Request.Status.values)


class ImportedRow:
    """One checked row ready to store, without a model instance (building one costs more than
    checking the row): the Request's column values in table order (`values`), the JSON text of each
    JSON field found storable (`texts`, what COPY writes) and its distinct doc_uris (`uris`)."""

    __slots__ = ("values", "texts", "uris")

    def __init__(self, fields: dict, texts: dict[str, str], uris: dict[str, None]):
        # A column the import does not set takes its default, as a Request built without it would.
        self.values = [
            fields[name] if name in fields else field.get_default()
            for name, field in zip(COLUMNS, _FIELDS, strict=True)
        ]
        self.texts = texts
        self.uris = uris

    def copied(self) -> list:
        """The values as COPY writes them: JSON fields as their JSON text."""
        copied = list(self.values)
        for index, name in _JSON_AT:
            if name in self.texts:
                copied[index] = self.texts[name]
            elif copied[index] is not None:
                copied[index] = json.dumps(copied[index])
        return copied

    def request(self) -> Request:
        """The unsaved Request of these values (the inserts SQLite, and a refused COPY, make)."""
        values = list(self.values)
        for index, name in _JSON_AT:
            if values[index] is None and name in self.texts:
                values[index] = json.loads(self.texts[name])
        return Request(*values)

    def without_decoded_json(self) -> "ImportedRow":
        """The same row without the decoded value of each JSON field whose text it keeps (read
        back from the text when needed): a process sends it in a fifth of the time."""
        row = ImportedRow.__new__(ImportedRow)
        row.values = list(self.values)
        for index, name in _JSON_AT:
            if name in self.texts:
                row.values[index] = None
        row.texts, row.uris = self.texts, self.uris
        return row


def _column(index: int) -> property:
    return property(lambda row: row.values[index])


# Each column readable by its attname, as on a Request: row.request_id, row.chunks...
for _index, _name in enumerate(COLUMNS):
    setattr(ImportedRow, _name, _column(_index))


def _make_storable(fields: dict) -> dict[str, str]:
    """Every text of the row made storable (lib/text.py), the trace too; `text_altered` says if any
    was changed. Done on the built row, so text decoded from JSON inside a field is covered as well.
    Returns the JSON text of each JSON field found storable, for COPY to write."""
    altered = False
    texts = {}
    for name in _JSON_FIELDS:
        fields[name], changed, text = _storable_value(fields[name])
        if text is not None:
            texts[name] = text
        altered |= changed
    for name in _STR_FIELDS:
        fields[name], changed = storable(fields[name])
        altered |= changed
    if not fields["conversation_id"]:  # it held nothing but NUL characters
        fields["conversation_id"] = str(fields["request_id"])
    fields["text_altered"] = altered
    return texts


def document_uris(chunks: list) -> dict[str, None]:
    """The distinct doc_uris of a request's chunks, in order, cut as they are stored: the rows
    models.retrieved_documents makes, without a model instance for each."""
    seen: dict[str, None] = {}
    for chunk in chunks or []:
        if isinstance(chunk, dict) and chunk.get("doc_uri"):
            seen.setdefault(cut_doc_uri(str(chunk["doc_uri"])), None)
    return seen


def _loads_trace(text: str):
    """A trace given as JSON text; NaN and Infinity are refused (not JSON), as is too deep a nesting.
    Text that cannot be stored is not refused here: _make_storable takes care of it."""
    try:
        trace = loads_storable(text)
    except json.JSONDecodeError:
        raise BadRow("trace is not valid JSON") from None
    except ValueError as exc:
        raise BadRow(f"trace: {exc}") from None
    return trace


def _trace(row: dict) -> dict | None:
    trace = row.get("trace")
    if isinstance(trace, str) and trace.strip():
        trace = _loads_trace(trace)
    if trace in ("", None):
        return None
    if not isinstance(trace, dict) or not isinstance(trace.get("info"), dict):
        raise BadRow("trace must be an MLflow trace object with 'info' and 'data'")
    return trace


def build_row(app: App, row) -> ImportedRow:
    """The Request (source `import`) of one inference-table row, as an ImportedRow; BadRow if it is
    wrong."""
    if not isinstance(row, dict):
        raise BadRow(f"a row must be a JSON object, not {type(row).__name__}")
    request_id = request_uuid(app, row.get("request_id"))
    if row.get("request") in (None, ""):
        raise BadRow("request is missing")
    messages = parse_messages(row["request"])
    status = _short_text(row, "status", Request.Status.OK.value)
    if status not in _STATUSES:
        raise BadRow(f"status must be one of {', '.join(Request.Status.values)}")
    # A turn that failed may have no answer at all; any other row must have one.
    if status == Request.Status.ERROR and row.get("response") is None:
        response = ""
    else:
        response = parse_response(row.get("response"))
    trace = _trace(row)
    try:
        facts = trace_facts(trace) if trace else {}
    except (AttributeError, TypeError, ValueError, KeyError) as exc:
        raise BadRow(f"the trace cannot be read: {exc}") from None
    if row.get("timestamp") is not None:
        created_at = parse_timestamp(row["timestamp"])
    else:
        created_at = facts.get("created_at") or timezone.now()
    latency = _optional_count(row, "latency_ms")
    tokens = {
        name: _optional_count(row, name) for name in ("request_tokens", "response_tokens", "total_tokens")
    }
    fields = {
        "request_id": request_id,
        "app_id": app.pk,
        "app_version": _short_text(row, "app_version"),
        "conversation_id": _short_text(row, "conversation_id") or facts.get("session") or str(request_id),
        "source": Request.Source.IMPORT.value,
        "user_id": None,
        "created_at": created_at,
        "messages": messages,
        "response": response,
        "status": status,
        "error": str(row.get("error") or "")[:10_000],
        "trace": trace,
        "mlflow_trace_id": facts.get("trace_id", ""),
        "chunks": facts.get("chunks", []),
        "latency_ms": latency if latency is not None else count_or_none(facts.get("latency_ms")),
        "load_ms": None,
        **{
            name: value if value is not None else count_or_none(facts.get(name))
            for name, value in tokens.items()
        },
    }
    texts = _make_storable(fields)
    uris = document_uris(fields["chunks"])
    fields["documents"] = len(uris)  # storage writes them
    return ImportedRow(fields, texts, uris)


def trace_facts(trace: dict) -> dict:
    """Trace id, start time, latency, session, chunks and tokens of an MLflow trace dict."""
    info = trace.get("info") or {}
    metadata = info.get("trace_metadata") or info.get("request_metadata") or {}
    facts = {"trace_id": str(info.get("trace_id") or info.get("request_id") or "")[:100]}
    latency = info.get("execution_duration_ms", info.get("execution_time_ms"))
    # Not infinite either: a number too large for a float (1e400) reads as infinity.
    if isinstance(latency, int | float) and 0 <= latency < math.inf:
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
