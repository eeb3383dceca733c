"""The MLflow-model adapter: call a pyfunc model by URI and keep the MLflow trace of the call.

URIs: `models:/name/version` (or `/latest`), `models:/name@alias`, `runs:/run_id/path`. Loaded models are
cached per process under the URI they resolve to (`models:/name/3`), so moving an alias makes
the next call load the new version while calls by version keep their model.
"""

import posixpath
import queue
import re
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

from django.core.exceptions import ValidationError

from . import agents, tracing
from .base import ChainError, ChainResult, ChainTimeout, output_usage, response_text
from .messages import check_messages
from .mlflow_setup import configure, experiment_id

DEFAULT_EXPERIMENT = "reviewapp-traces"
# Every trace the adapter records names its app, so an app's import takes only its own turns: by its
# slug for people reading MLflow, and by its id, which a later app that takes a freed slug never has.
APP_TAG = "reviewapp.app"
APP_ID_TAG = "reviewapp.app_id"
SESSION_METADATA = "mlflow.trace.session"
CACHE_SIZE = 8

# Kept to a subset of what MLflow accepts (a registered model name may hold anything but "/" and
# ":"; an alias is letters, digits, "_" and "-", up to 255): a name that starts with a dot could
# walk the registry's folders in a file store.
MAX_MODEL_NAME_CHARS = 256
MAX_ALIAS_CHARS = 255
MAX_ARTIFACT_PATH_CHARS = 300
_NAME = rf"(?P<name>[A-Za-z0-9][A-Za-z0-9_.\- ]{{0,{MAX_MODEL_NAME_CHARS - 1}}})"
_BY_VERSION = re.compile(rf"^models:/{_NAME}/(?P<version>\d{{1,10}}|latest)$")
_BY_ALIAS = re.compile(rf"^models:/{_NAME}@(?P<alias>[A-Za-z0-9_-]{{1,{MAX_ALIAS_CHARS}}})$")
# MLflow's run ids are uuid4 hex. The path is checked on its own (see _artifact_path): it is joined
# to the run's artifact folder, so anything that could leave that folder is refused.
_BY_RUN = re.compile(r"^runs:/(?P<run_id>[0-9a-fA-F]{32})/(?P<path>.*)$", re.DOTALL)
_ARTIFACT_PATH = re.compile(r"^[A-Za-z0-9_.\-/]+$")
URI_FORMS = "use models:/name/version, models:/name@alias or runs:/run_id/path"
ARTIFACT_PATH_WORDS = (
    "the path after a run id is the model's folder among the run's artifacts: letters, digits, "
    f"'_', '-', '.' and '/', no '..', not starting with '/', at most {MAX_ARTIFACT_PATH_CHARS} characters"
)

_models: OrderedDict = OrderedDict()
_loading: dict[str, Future] = {}  # the load under way, per concrete URI
_experiments: dict[str, str] = {}
_lock = threading.Lock()


def parse_uri(uri: str) -> dict:
    """The parts of a model URI; ChainError naming the accepted forms when it is not one.

    The one parser of model URIs: the rules check a URI with it when an app is saved, and the
    adapter again before anything is loaded (a row may predate a rule). A run's `path` comes back
    normalised.
    """
    uri = (uri or "").strip()
    for pattern in (_BY_VERSION, _BY_ALIAS):
        match = pattern.match(uri)
        if match:
            return match.groupdict()
    match = _BY_RUN.match(uri)
    if match:
        return {"run_id": match["run_id"].lower(), "path": _artifact_path(match["path"])}
    shown = uri if len(uri) <= 100 else f"{uri[:100]}…"
    raise ChainError(f"{shown!r} is not a model URI; {URI_FORMS}")


def _artifact_path(path: str) -> str:
    """A run's artifact path, relative and normalised; ChainError when it could leave the run's
    artifacts (`..`, an absolute path) or hides something ("%" escapes, "\\", ":", control
    characters)."""
    if (
        len(path) > MAX_ARTIFACT_PATH_CHARS
        or not _ARTIFACT_PATH.fullmatch(path)
        or path.startswith("/")
        or ".." in path
    ):
        raise ChainError(f"not a model URI: {ARTIFACT_PATH_WORDS}")
    path = posixpath.normpath(path)
    if path in {".", ""}:
        raise ChainError(f"not a model URI: {ARTIFACT_PATH_WORDS}")
    return path


def registry_version(client, parts: dict) -> str | None:
    """The version a parsed `models:/` URI names in `client`'s registry now (an alias: the version it
    points at; `latest`: the newest); None when the name has no versions. MlflowException passes on."""
    name = parts["name"]
    if "alias" in parts:
        return str(client.get_model_version_by_alias(name, parts["alias"]).version)
    if parts["version"] != "latest":
        return str(client.get_model_version(name, parts["version"]).version)
    found = client.search_model_versions(f"name = '{name}'")  # parse_uri allows no quote in a name
    return str(max(int(v.version) for v in found)) if found else None


def resolve(uri: str) -> str:
    """The concrete URI `uri` points at now: an alias becomes `models:/name/version`."""
    parts = parse_uri(uri)
    if "run_id" in parts:
        return uri.strip()
    mlflow = configure()
    try:
        version = registry_version(mlflow.MlflowClient(), parts)
    except mlflow.exceptions.MlflowException as exc:
        raise ChainError(f"{uri} is not in the model registry: {_first_line(exc)}") from None
    if version is None:
        raise ChainError(f"{uri} is not in the model registry: it has no versions")
    return f"models:/{parts['name']}/{version}"


def load(uri: str):
    """(concrete URI, loaded pyfunc model), from the per-process cache when it is there."""
    concrete, model, _ = load_timed(uri)
    return concrete, model


def load_timed(uri: str) -> tuple[str, Any, int | None]:
    """load(), and the milliseconds this call spent loading (None when the model was cached).

    Thread-safe, one load per model: a call that arrives while another thread (a worker's warm-up)
    loads the same model waits for that load, and its wait is its load time; should the load fail,
    every waiter gets its ChainError rather than trying again in turn. Different models load side
    by side.
    """
    concrete = resolve(uri)
    with _lock:
        if concrete in _models:
            _models.move_to_end(concrete)
            return concrete, _models[concrete], None
        loading = _loading.get(concrete)
        mine = loading is None
        if mine:
            loading = _loading[concrete] = Future()
    started = time.monotonic()
    if mine:
        try:
            model = _load_model(concrete)
        except BaseException as exc:
            with _lock:
                _loading.pop(concrete, None)
                loading.set_exception(exc)
            raise
        # One step: no caller can find the model neither loading nor cached, and load it again.
        with _lock:
            _loading.pop(concrete, None)
            _models[concrete] = model
            while len(_models) > CACHE_SIZE:
                _models.popitem(last=False)
            loading.set_result(model)
    else:
        model = loading.result()
    return concrete, model, round((time.monotonic() - started) * 1000)


def _load_model(concrete: str):
    mlflow = configure()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "add type hints to predict"
            return mlflow.pyfunc.load_model(concrete)
    except Exception as exc:
        raise ChainError(f"Could not load {concrete}: {_first_line(exc)}") from None


def version_of(concrete: str) -> str:
    """The registry version a concrete URI names (`models:/name/3` -> "3"); "" for a run's model."""
    match = _BY_VERSION.match(concrete)
    return match["version"] if match else ""


# The options of a call, and what they are when not given.
CALL_DEFAULTS = {
    "timeout_seconds": None,
    "experiment": DEFAULT_EXPERIMENT,
    "app_slug": "",
    "app_id": "",
    "conversation_id": "",
}


def app_tags(app) -> dict[str, str]:
    """The tags naming the app on a trace of its turn."""
    return {APP_TAG: app.slug, APP_ID_TAG: str(app.pk)}


def invoke(*, model_uri: str, messages: list[dict], **options) -> ChainResult:
    """Call the model's predict; the response, chunks, tokens and trace (see `stream`).

    `options`: `timeout_seconds` (None: no limit), `experiment` (where the trace goes), `app_slug`
    and `app_id` (the trace's APP_TAG and APP_ID_TAG), `conversation_id` (the trace's session).
    """
    for item in _run(model_uri=model_uri, messages=messages, **{**CALL_DEFAULTS, **options}, streaming=False):
        if isinstance(item, ChainResult):
            return item
    raise AssertionError("a chain call ended without a result")  # pragma: no cover


class Answer(Iterator):
    """What `stream` returns: its items, and the call's trace id once its span has started.

    A reader that goes away calls `close()`: the model is stopped, our span ends as ERROR, and
    `mlflow_trace_id` with `trace` (None when the store has no complete copy yet) let the reader log
    the abandoned turn with its trace.
    """

    def __init__(self, **call):
        self.mlflow_trace_id = ""
        self.trace: dict | None = None
        self._items = _run(**call, streaming=True, answer=self)

    def __next__(self) -> str | ChainResult:
        return next(self._items)

    def close(self) -> None:
        self._items.close()


def stream(*, model_uri: str, messages: list[dict], **options) -> Answer:
    """The answer's text deltas as the model's predict_stream gives them, then the ChainResult;
    `options` as for `invoke`.

    A model without predict_stream answers through predict, as one delta.
    """
    return Answer(model_uri=model_uri, messages=messages, **{**CALL_DEFAULTS, **options})


def _run(
    *,
    model_uri: str,
    messages: list[dict],
    timeout_seconds: float | None,
    experiment: str,
    app_slug: str,
    app_id: str,
    conversation_id: str,
    streaming: bool,
    answer: Answer | None = None,
) -> Iterator[str | ChainResult]:
    """Run the model inside a CHAIN span of ours, on a thread of its own.

    Every call has a trace in `experiment`, tagged with the app, holding the model's own spans (they
    are made on the thread where our span is current) and the model's whole output; a call that fails
    or times out ends its trace as ERROR and the ChainError carries it. `timeout_seconds` bounds the
    answer (not loading the model). Once text has come, a failure or the timeout ends the answer
    part-way: the ChainResult says `complete=False`, with the text that came.

    The model's thread is named `chain <trace id>`. After a timeout or an abandoned answer it runs on
    until the model's predict returns, or its stream gives its next event (the stream is then closed);
    its spans then complete the trace in the store. Until then the store has no readable copy, so the
    result's or error's `trace` may be None; its trace id is always kept.
    """
    _check_messages(messages)
    concrete, model, load_ms = load_timed(model_uri)
    kind = agents.interface(model)
    streaming = streaming and agents.streams(model)
    reader = agents.StreamReader(kind)
    events: queue.Queue = queue.Queue()
    stop = threading.Event()
    span = _start(
        concrete=concrete,
        kind=kind,
        messages=messages,
        experiment=experiment,
        tags={APP_TAG: app_slug, APP_ID_TAG: app_id},
        conversation_id=conversation_id,
        work=(model, kind, messages, streaming, reader, events, stop),
    )
    trace_id = _trace_id(span)
    if answer is not None:
        answer.mlflow_trace_id = trace_id
    started = time.monotonic()
    deadline = started + timeout_seconds if timeout_seconds else None
    received: list[str] = []
    finished = False
    try:
        while True:
            # A reader that comes back late still takes what is queued: get(timeout=0) returns it.
            remaining = None if deadline is None else max(deadline - time.monotonic(), 0)
            try:
                what, value = events.get(timeout=remaining)
            except queue.Empty:
                stop.set()
                verb = "finish answering" if received else "answer"
                failure = ChainTimeout(f"The chain did not {verb} within {timeout_seconds:g} seconds")
                break
            if what == "delta":
                received.append(value)
                yield value
            elif what == "end":
                failure = None
                output = value
                break
            else:
                failure = value if isinstance(value, ChainError) else None
                failure = failure or ChainError(f"The chain failed: {_first_line(value)}")
                break
        latency_ms = round((time.monotonic() - started) * 1000)
        finished = True
    finally:
        if not finished:  # the reader went away mid-answer: stop the model, keep the trace
            stop.set()
            trace = _end(span, error=ChainError("The answer was abandoned before it was complete"))
            if answer is not None:
                answer.trace = trace
    common = {"latency_ms": latency_ms, "load_ms": load_ms, "app_version": version_of(concrete)}
    if failure is not None:
        # The text that came is the span's output, so an import of the trace keeps it (incomplete).
        trace = _end(span, error=failure, outputs="".join(received) or None)
        if not received:
            failure.trace, failure.mlflow_trace_id = trace, trace_id
            raise failure
        why = str(failure) if isinstance(failure, ChainTimeout) else f"{failure} (after part of the answer)"
        yield ChainResult(
            response="".join(received),
            chunks=tracing.chunks(trace),
            trace=trace,
            mlflow_trace_id=trace_id,
            complete=False,
            incomplete_reason=why,
            **_usage(trace, reader.usage_counts()),
            **common,
        )
        return
    try:
        if streaming:
            response, shown = reader.text(), reader.output()
            usage = reader.usage_counts()
        else:
            shown = _plain(output)
            response, usage = response_text(shown), output_usage(shown)
    except ChainError as error:
        error.trace, error.mlflow_trace_id = _end(span, error=error), trace_id
        raise
    trace = _end(span, outputs=shown)
    if not streaming:
        yield response
    yield ChainResult(
        response=response,
        chunks=tracing.chunks(trace),
        trace=trace,
        mlflow_trace_id=trace_id,
        **_usage(trace, usage),
        **common,
    )


def _start(*, concrete, kind, messages, experiment, tags: dict, conversation_id, work: tuple):
    """Start our span, and the model's thread running `_work(span, *work)`; the span.

    Anything that fails here (the tracking store down, no thread to be had) is a ChainError, and a
    span already started ends as ERROR with it.
    """
    span = None
    try:
        mlflow = configure()
        from mlflow.entities import SpanType

        span = mlflow.start_span_no_context(
            name="chain",
            span_type=SpanType.CHAIN,
            inputs={"messages": messages},
            attributes={"reviewapp.model_uri": concrete, "reviewapp.interface": kind},
            tags={name: value for name, value in tags.items() if value} or None,
            metadata={SESSION_METADATA: conversation_id} if conversation_id else None,
            experiment_id=_experiment_id(experiment),
        )
        thread = threading.Thread(
            target=_work, args=(span, *work), daemon=True, name=f"chain {_trace_id(span)}"
        )
        thread.start()
    except Exception as exc:
        error = ChainError(f"The chain could not be started: {_first_line(exc)}")
        if span is not None:
            error.trace, error.mlflow_trace_id = _end(span, error=error), _trace_id(span)
        raise error from None
    return span


def _trace_id(span) -> str:
    """The span's trace id; "" for MLflow's stand-in span when tracing is off or failed."""
    from mlflow.entities.span import NO_OP_SPAN_TRACE_ID

    return "" if span.trace_id == NO_OP_SPAN_TRACE_ID else span.trace_id


def _work(span, model, kind, messages, streaming, reader, events, stop) -> None:
    """The model's call, on the chain's thread, with our span current so its spans nest under ours.

    Whatever happens here ends in one event on the queue, so the caller never waits for nothing.
    """
    token = None
    try:
        from mlflow.tracing.provider import detach_span_from_context, set_span_in_context

        token = set_span_in_context(span)
        payload = agents.model_input(kind, messages)
        if not streaming:
            events.put(("end", model.predict(payload)))
            return
        for event in (model_stream := model.predict_stream(payload)):
            if stop.is_set():
                model_stream.close()
                _end_left_open(span)
                return
            for delta in reader.feed(event):
                events.put(("delta", delta))
        events.put(("end", None))
    except BaseException as exc:  # handed to the caller, which ends the trace and says why
        events.put(("error", exc))
    finally:
        if token is not None:
            detach_span_from_context(token)


def _end_left_open(span) -> None:
    """End, as ERROR, the model's spans still open under ours once its stream has been stopped.

    MLflow ends a traced generator's span only when the generator runs to its end; closed early,
    the span stays open, and the trace then never reaches the store whole (and stays in MLflow's
    memory). There is no public API for the open spans of a trace: should this internal one change,
    the spans stay open, as without it.
    """
    try:
        from mlflow.entities import SpanStatus, SpanStatusCode
        from mlflow.tracing.trace_manager import InMemoryTraceManager

        with InMemoryTraceManager.get_instance().get_trace(span.trace_id) as trace:
            spans = list(trace.span_dict.values()) if trace is not None else []
        left_open = [s for s in spans if s.end_time_ns is None and s.span_id != span.span_id]
        for child in sorted(left_open, key=lambda s: s.start_time_ns, reverse=True):  # inner first
            child.set_status(
                SpanStatus(SpanStatusCode.ERROR, "Stopped: the answer timed out or was abandoned")
            )
            child.end()
    except Exception:  # pragma: no cover - MLflow internals moved: the spans stay open
        pass


def _plain(output: Any) -> Any:
    """A predict output as JSON-able data (pydantic, numpy and pandas results included)."""
    if hasattr(output, "model_dump"):
        return output.model_dump(exclude_none=True)
    if hasattr(output, "tolist"):
        return output.tolist()
    return output


def _end(span, *, outputs: Any = None, error: Exception | None = None) -> dict | None:
    """End our span (OK with the outputs, or ERROR with the exception and any outputs); the trace
    as a dict.

    None when the store cannot give the trace now: it failed, or the model's own spans are still
    open (a timed-out or abandoned call), which MLflow reads as corrupted until they end.
    """
    try:
        if error is not None:
            if outputs is not None:
                span.set_outputs(outputs)
            span.record_exception(error)  # sets ERROR, with the error as the status message
        else:
            span.set_outputs(outputs)
            span.set_status("OK")
        span.end()
        trace = configure().get_trace(span.trace_id, flush=True)
        return None if trace is None else _without_chunk_events(trace.to_dict())
    except Exception:  # the answer stands even if the tracking store could not keep its trace
        return None


def _without_chunk_events(trace: dict) -> dict:
    """The trace without MLflow's one-event-per-streamed-chunk span events (the store keeps them):
    the span's output already holds the whole answer, and a long stream would bloat every row."""
    from mlflow.tracing.constant import STREAM_CHUNK_EVENT_NAME_FORMAT

    prefix = STREAM_CHUNK_EVENT_NAME_FORMAT.split("{", 1)[0]
    for span in (trace.get("data") or {}).get("spans") or []:
        if isinstance(span.get("events"), list):
            span["events"] = [e for e in span["events"] if not str(e.get("name", "")).startswith(prefix)]
    return trace


def _usage(trace: dict | None, reported: dict) -> dict:
    """Token counts: those the model's output reported, else the trace's (None where unknown)."""
    usage = tracing.token_usage(trace)
    usage.update(reported)
    return usage


def _check_messages(messages) -> None:
    try:
        check_messages(messages, max_messages=None, max_bytes=None)
    except ValidationError as error:
        raise ChainError(error.messages[0]) from None


def _experiment_id(name: str) -> str:
    if name not in _experiments:
        _experiments[name] = experiment_id(name)
    return _experiments[name]


def _first_line(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:500]


def clear_cache() -> None:
    with _lock:
        _models.clear()
    _experiments.clear()
