"""The MLflow-model adapter: call a pyfunc model by URI and keep the MLflow trace of the call.

URIs: `models:/name/version` (or `/latest`), `models:/name@alias`, `runs:/run_id/path`. Loaded models are
cached per process under the URI they resolve to (`models:/name/3`), so moving an alias makes
the next call load the new version while calls by version keep their model.
"""

import contextvars
import re
import threading
import time
import warnings
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from django.core.exceptions import ValidationError

from . import tracing
from .base import ChainError, ChainResult, response_text
from .messages import check_messages
from .mlflow_setup import configure, experiment_id

DEFAULT_EXPERIMENT = "reviewapp-traces"
CACHE_SIZE = 8

_BY_VERSION = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>\d+|latest)$")
_BY_ALIAS = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[\w-]+)$")
_BY_RUN = re.compile(r"^runs:/(?P<run_id>[0-9a-fA-F]+)/(?P<path>\S+)$")

_models: OrderedDict = OrderedDict()
_experiments: dict[str, str] = {}
_lock = threading.Lock()


def parse_uri(uri: str) -> dict:
    """The parts of a model URI; ChainError naming the accepted forms when it is not one."""
    uri = (uri or "").strip()
    for pattern in (_BY_VERSION, _BY_ALIAS, _BY_RUN):
        match = pattern.match(uri)
        if match:
            return match.groupdict()
    raise ChainError(
        f"{uri!r} is not a model URI; use models:/name/version, models:/name@alias or runs:/run_id/path"
    )


def resolve(uri: str) -> str:
    """The concrete URI `uri` points at now: an alias becomes `models:/name/version`."""
    parts = parse_uri(uri)
    if "run_id" in parts:
        return uri.strip()
    mlflow = configure()
    client = mlflow.MlflowClient()
    try:
        if "alias" in parts:
            version = client.get_model_version_by_alias(parts["name"], parts["alias"]).version
        elif parts["version"] == "latest":
            found = client.search_model_versions(f"name = '{parts['name']}'")
            if not found:
                raise ChainError(f"{uri} is not in the model registry: it has no versions")
            version = max(int(v.version) for v in found)
        else:
            version = client.get_model_version(parts["name"], parts["version"]).version
    except mlflow.exceptions.MlflowException as exc:
        raise ChainError(f"{uri} is not in the model registry: {_first_line(exc)}") from None
    return f"models:/{parts['name']}/{version}"


def load(uri: str):
    """(concrete URI, loaded pyfunc model), from the per-process cache when it is there."""
    concrete = resolve(uri)
    with _lock:
        if concrete in _models:
            _models.move_to_end(concrete)
            return concrete, _models[concrete]
        mlflow = configure()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "add type hints to predict"
                model = mlflow.pyfunc.load_model(concrete)
        except Exception as exc:
            raise ChainError(f"Could not load {concrete}: {_first_line(exc)}") from None
        _models[concrete] = model
        while len(_models) > CACHE_SIZE:
            _models.popitem(last=False)
        return concrete, model


def invoke(
    *,
    model_uri: str,
    messages: list[dict],
    timeout_seconds: float | None = None,
    experiment: str = DEFAULT_EXPERIMENT,
) -> ChainResult:
    """Call the model with {"messages": messages}; the response, chunks, tokens and trace.

    The call runs inside a CHAIN span of ours, so every call has a trace (with the model's own
    spans beneath it when the model is traced) logged to `experiment`.
    """
    _check_messages(messages)
    concrete, model = load(model_uri)
    mlflow = configure()
    from mlflow.entities import SpanType
    from mlflow.entities.trace_location import MlflowExperimentLocation

    location = MlflowExperimentLocation(experiment_id=_experiment_id(experiment))
    started = time.monotonic()
    try:
        with mlflow.start_span(name="chain", span_type=SpanType.CHAIN, trace_destination=location) as span:
            span.set_inputs({"messages": messages})
            span.set_attribute("reviewapp.model_uri", concrete)
            output = _predict(model, messages, timeout_seconds)
            latency_ms = round((time.monotonic() - started) * 1000)
            response = response_text(output)
            span.set_outputs(response)
    except ChainError:
        raise
    except Exception as exc:
        raise ChainError(f"The chain failed: {_first_line(exc)}") from None
    try:
        trace = mlflow.get_trace(span.trace_id, flush=True).to_dict()
    except Exception:  # the answer stands even if the tracking store could not keep its trace
        trace = None
    usage = tracing.token_usage(trace)
    return ChainResult(
        response=response,
        chunks=tracing.chunks(trace),
        trace=trace,
        mlflow_trace_id=span.trace_id if trace else "",
        latency_ms=latency_ms,
        **usage,
    )


def _predict(model, messages: list[dict], timeout_seconds: float | None):
    if not timeout_seconds:
        return model.predict({"messages": messages})
    # A worker thread carrying our context, so the model's spans nest under ours.
    context = contextvars.copy_context()
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chain")
    future = pool.submit(context.run, model.predict, {"messages": messages})
    pool.shutdown(wait=False)
    try:
        return future.result(timeout=timeout_seconds)
    except FutureTimeout:
        raise ChainError(f"The chain did not answer within {timeout_seconds:g} seconds") from None


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
