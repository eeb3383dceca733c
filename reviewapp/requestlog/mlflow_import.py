"""MLflow traces as a source of imported rows, from the experiments an app may import from."""

import json
import uuid
from collections.abc import Iterator

from reviewapp.catalog.models import App
from reviewapp.chains import tracing
from reviewapp.chains.base import response_text
from reviewapp.chains.mlflow_model import APP_ID_TAG, APP_TAG

from .models import Request
from .rows import BadRow, parse_request_id

# What an ERROR trace is said to have ended with when its root span gives no message.
ENDED_IN_ERROR = "The trace ended in an error"


class ExperimentNotLinked(LookupError):
    """The app may not import from this experiment; the message is the same whether it exists or not."""

    def __init__(self, experiment: str):
        shown = experiment if len(experiment) <= 100 else experiment[:100] + "…"
        super().__init__(f"No experiment {shown!r} is linked to this app; ask an administrator to link it")


def _find_experiment(client, mlflow, ref: str):
    """The live experiment with this id or name, or None; other tracking-store errors propagate."""
    if ref.isascii() and ref.isdigit():
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
    experiment_id: str,
    filter_string: str = "",
    max_results: int | None = None,
    page_size: int = 200,
    *,
    app: App | None = None,
    left_out: dict | None = None,
) -> Iterator[tuple[int, object]]:
    """(position, row) for each trace of an experiment, page by page, oldest first.

    With `app`, a trace of another app's turn (`is_other_apps`) is left out and counted in
    left_out["other_apps"]: experiments may be shared, and those turns are not this app's to review.
    Traces without the tags (chains traced outside reviewapp) come in as before.
    """
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
            if app is not None and is_other_apps(trace.info, app):
                if left_out is not None:
                    left_out["other_apps"] = left_out.get("other_apps", 0) + 1
                continue
            try:
                yield number, row_from_trace(trace.to_dict())
            except Exception as exc:  # one unreadable trace must not stop the others
                yield number, BadRow(f"trace {trace.info.trace_id} cannot be read: {exc}")
        token = page.token
        if not token:
            return


def is_other_apps(info, app: App) -> bool:
    """Whether a trace (its TraceInfo) is tagged as the turn of an app other than `app`.

    The app's id decides: a slug is freed when its app is deleted, and the app that takes it next
    owns the same experiment name, so the old app's traces still carry that slug. Traces written
    before the id was tagged have only the slug; one that is older than `app` is not its own either.
    """
    tags = info.tags or {}
    if tags.get(APP_ID_TAG):
        return tags[APP_ID_TAG] != str(app.pk)
    slug = tags.get(APP_TAG)
    if not slug:
        return False
    started = getattr(info, "request_time", None)
    return slug != app.slug or (started is not None and started < app.created_at.timestamp() * 1000)


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
    row = {
        "request_id": request_id,
        "request": _messages_in(inputs),
        "response": _response_in(outputs),
        "trace": trace,
    }
    if info.get("state") == "ERROR":
        # What came before the error is kept as an incomplete answer; with nothing, the turn failed.
        has_response = row["response"] not in (None, "")
        row["status"] = Request.Status.INCOMPLETE if has_response else Request.Status.ERROR
        row["error"] = _error_message(root) or ENDED_IN_ERROR
        if not has_response:
            row["response"] = None
    return row


def _error_message(root: dict | None) -> str:
    status = (root or {}).get("status")
    message = status.get("message") if isinstance(status, dict) else None
    return message.strip() if isinstance(message, str) else ""


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
        return response_text(outputs)
    except (ValueError, TypeError, AttributeError):
        return json.dumps(outputs, ensure_ascii=False, default=str)
