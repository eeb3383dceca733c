"""The MLflow step of an export: log a published version or judge export to the tracking store.

It runs after the files exist, in its own task, retried on its own, so a tracking store that is
down never loses an export. One worker at a time runs it (the row's MLFLOW_LEASE, renewed by a
heartbeat while the step moves), and it is safe to repeat: it finds the run, dataset records and
feedback an earlier attempt made. The holder's writes are fenced by its claim (`mlflow_attempts`):
one that was taken over gets LeaseLost and leaves the row to the new holder.
"""

import contextlib
import itertools
import json
import logging
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import DatabaseError
from django.utils import timezone

from reviewapp.jobs.leases import Heartbeat, LeaseLost
from reviewapp.lib import files

from .models import EvaluationSetVersion, JudgeExport, MlflowStatus
from .writers import export_storage

log = logging.getLogger(__name__)

MLFLOW_BATCH = 1000


def queue_mlflow_step(obj: EvaluationSetVersion | JudgeExport) -> bool:
    """Send the step's task, and note when it reached the broker; False when the broker did not
    take it (the exports sweep sends it). Never raises: it runs once the export is committed."""
    from reviewapp.jobs.sending import send

    from .tasks import log_evaluation_set_task, log_judge_export_task

    task = log_evaluation_set_task if isinstance(obj, EvaluationSetVersion) else log_judge_export_task
    if not send(task, (obj.pk,)):
        return False
    obj.mlflow_sent_at = timezone.now()
    try:
        type(obj).objects.filter(pk=obj.pk).update(mlflow_sent_at=obj.mlflow_sent_at)
    except DatabaseError as exc:
        # Sent all the same: the sweep may send it once more, which the claim makes harmless.
        log.warning("the MLflow step of %s %s was sent, but not noted: %s", type(obj).__name__, obj.pk, exc)
    return True


def _claim(model, pk: int):
    """The row, claimed for this worker's MLflow step; None when the step is done or the row gone.

    Raises Busy while another worker is on it.
    """
    lease = model.MLFLOW_LEASE
    if lease.claim(model.objects.filter(pk=pk).exclude(mlflow_status=MlflowStatus.DONE)):
        return model.objects.get(pk=pk)
    obj = model.objects.filter(pk=pk).first()
    if obj is None or obj.mlflow_status == MlflowStatus.DONE:
        return None
    raise lease.busy(obj, f"the MLflow step of {model.__name__} {pk}")


# The holder's writes: `obj.mlflow_attempts` is its claim, and each raises LeaseLost (writing
# nothing) once another worker has claimed the row since.


def _renew(obj) -> None:
    """The step moved on: extend the lease now (and keep the heartbeat going)."""
    obj.MLFLOW_LEASE.renew(type(obj).objects.filter(pk=obj.pk), obj.mlflow_attempts)
    if heartbeat := getattr(obj, "_heartbeat", None):
        heartbeat.progressed()


def _release(obj, **changes) -> None:
    obj.MLFLOW_LEASE.release(type(obj).objects.filter(pk=obj.pk), obj.mlflow_attempts, **changes)
    for field, value in {**changes, "mlflow_lease_until": None}.items():
        setattr(obj, field, value)


def _finish(obj, fields: list[str]) -> None:
    _release(
        obj,
        mlflow_status=MlflowStatus.DONE,
        mlflow_error="",
        mlflow_next_try_at=None,
        **{f: getattr(obj, f) for f in fields},
    )


@contextlib.contextmanager
def _holding(obj, final_attempt: bool, retry_in: float):
    """Hold the claimed `obj` while its step works, and record why the step failed (a lost lease
    records nothing: the row moved on).

    A heartbeat renews the lease while the step moves (each batch or example counts as a move,
    see `_renew`), so a long call to the tracking store keeps the row, and a dead or hung worker
    leaves it within a lease.
    """
    rows = type(obj).objects.filter(pk=obj.pk)
    obj._heartbeat = Heartbeat(
        obj.MLFLOW_LEASE, rows, obj.mlflow_attempts, stall_after=settings.JOB_STALL_SECONDS
    )
    try:
        with obj._heartbeat:
            yield
    except LeaseLost:
        raise
    except Exception as exc:
        log.warning("MLflow step for %s %s failed: %s", obj._meta.verbose_name, obj.pk, exc)
        _record_failure(obj, exc, final_attempt, retry_in)
        raise


def _record_failure(obj, exc: Exception, final: bool, retry_in: float = 0) -> None:
    # Released, so free for the retry; the sweep sends the step again should the retry's message
    # be gone long after it was due.
    _release(
        obj,
        mlflow_error=f"{type(exc).__name__}: {exc}"[:2000],
        mlflow_status=MlflowStatus.FAILED if final else MlflowStatus.PENDING,
        mlflow_next_try_at=None if final else timezone.now() + timedelta(seconds=retry_in),
    )


def _find_or_start_run(mlflow, experiment_id: str, tag_value: str, run_name: str):
    """The run tagged for this export, if a previous attempt created one; else a new one."""
    runs = mlflow.MlflowClient().search_runs(
        [experiment_id], filter_string=f"tags.reviewapp_export = '{tag_value}'", max_results=1
    )
    # The fluent API refuses to resume a run of another experiment than the process' active one
    # (an earlier task in this worker may have set it), so make this experiment the active one.
    mlflow.set_experiment(experiment_id=experiment_id)
    if runs:
        return mlflow.start_run(run_id=runs[0].info.run_id)
    return mlflow.start_run(
        experiment_id=experiment_id, run_name=run_name, tags={"reviewapp_export": tag_value}
    )


def log_evaluation_set(
    *, version_id: int, final_attempt: bool = False, retry_in: float = 0
) -> EvaluationSetVersion | None:
    """Log a version to MLflow: a run with the dataset as input and the files as artifacts, and
    a GenAI evaluation dataset with the records. Safe to repeat: it finds what it made before.

    Should it fail, the step is left pending and its retry due in `retry_in` seconds (failed for
    good on the `final_attempt`)."""
    from reviewapp.chains.mlflow_setup import configure, experiment_id

    version = _claim(EvaluationSetVersion, version_id)
    if version is None:
        return None
    app = version.evaluation_set.app
    with _holding(version, final_attempt, retry_in):
        mlflow = configure()
        from mlflow.data.dataset_source_registry import resolve_dataset_source
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.data.sources import LocalArtifactDatasetSource
        from mlflow.genai.datasets import create_dataset, search_datasets

        exp_id = experiment_id(app.mlflow_experiment_name())
        dataset_name = f"{version.evaluation_set.name}-v{version.number}"
        storage = export_storage()
        parquet = files.uri(storage, f"{version.relative_dir}/evaluation_set.parquet")
        # The job id, not the row id: row ids repeat when a database is rebuilt, MLflow runs stay.
        tag = f"evaluation_set:{version.job_id}"
        # MLflow logs files from a folder: on a bucket, a temporary copy of the version's files.
        with files.local_files(storage, version.relative_dir, list(version.files)) as folder:
            with _find_or_start_run(mlflow, exp_id, tag, dataset_name) as run:
                dataset = MetaDataset(
                    source=LocalArtifactDatasetSource(parquet)
                    if files.local_root(storage) is not None
                    else resolve_dataset_source(parquet),
                    name=dataset_name,
                    digest=version.files["evaluation_set.parquet"]["sha256"][:20],
                )
                mlflow.log_input(dataset, context="evaluation")
                mlflow.log_params({"evaluation_set": version.evaluation_set.name, "version": version.number})
                mlflow.log_metric("row_count", version.row_count)
                mlflow.log_artifacts(str(folder), artifact_path="evaluation_set")
                run_id = run.info.run_id
            found = [
                d for d in search_datasets(experiment_ids=exp_id, max_results=1000) if d.name == dataset_name
            ]
            evaluation_dataset = (
                found[0] if found else create_dataset(name=dataset_name, experiment_id=exp_id)
            )
            # merge_records is keyed on the inputs, so a repeated batch changes nothing.
            with (folder / "mlflow_records.jsonl").open(encoding="utf-8", newline="\n") as handle:
                while batch := [json.loads(line) for line in itertools.islice(handle, MLFLOW_BATCH)]:
                    evaluation_dataset.merge_records(batch)
                    _renew(version)
    version.mlflow_run_id, version.mlflow_experiment_id = run_id, exp_id
    version.mlflow_dataset_id = evaluation_dataset.dataset_id
    _finish(version, ["mlflow_run_id", "mlflow_experiment_id", "mlflow_dataset_id"])
    return version


def _trace_for(mlflow, request) -> str:
    """The request's MLflow trace id; a trace is made from the logged request where it has none.

    The trace is tagged with the request's app like a chain's own: it holds the conversation, and
    the experiment it goes to may be imported by another app.
    """
    from reviewapp.chains.mlflow_model import app_tags
    from reviewapp.requestlog.models import Request

    if request.mlflow_trace_id:
        return request.mlflow_trace_id
    # One span per span of the original trace (by name and type), holding the chunks it returned.
    by_span: dict[tuple[str, str], list[dict]] = {}
    for chunk in request.chunks or []:
        key = (chunk.get("span_name") or "retrieve", chunk.get("span_type") or "RETRIEVER")
        by_span.setdefault(key, []).append(chunk)
    with mlflow.start_span(name="reviewapp_request", span_type="CHAIN") as root:
        root.set_inputs({"messages": request.messages})
        mlflow.update_current_trace(tags=app_tags(request.app))
        for (name, span_type), chunks in by_span.items():
            with mlflow.start_span(name=name, span_type=span_type) as span:
                span.set_inputs({"query": request.request_text})
                span.set_outputs(
                    [
                        {"page_content": c.get("content", ""), "metadata": {"doc_uri": c.get("doc_uri", "")}}
                        for c in chunks
                    ]
                )
        root.set_outputs(request.response)
        trace_id = root.trace_id
    mlflow.flush_trace_async_logging()
    # Remember it, so a retry or a later export reuses the same trace, and so does the caller's next
    # example of this request (it holds this object).
    Request.objects.filter(pk=request.pk, mlflow_trace_id="").update(mlflow_trace_id=trace_id)
    request.mlflow_trace_id = Request.objects.values_list("mlflow_trace_id", flat=True).get(pk=request.pk)
    return request.mlflow_trace_id


def log_judge_export(
    *, export_id: int, final_attempt: bool = False, retry_in: float = 0
) -> JudgeExport | None:
    """Log a judge export to MLflow: the files as artifacts of a run, and each example as HUMAN
    feedback named after its judge on the request's trace (for `judge.align(traces)`).

    A failure is recorded as for `log_evaluation_set`."""
    from mlflow.entities import AssessmentSource

    from reviewapp.chains.mlflow_setup import configure, experiment_id
    from reviewapp.feedback.mlflow_sync import span_for
    from reviewapp.feedback.models import Assessment
    from reviewapp.requestlog.models import Request

    export = _claim(JudgeExport, export_id)
    if export is None:
        return None
    with _holding(export, final_attempt, retry_in):
        mlflow = configure()
        exp_id = experiment_id(export.app.mlflow_experiment_name())
        mlflow.set_experiment(experiment_id=exp_id)
        marker = f"judge_export:{export.job_id}"
        storage = export_storage()
        with (
            files.local_files(storage, export.relative_dir, list(export.files)) as folder,
            _find_or_start_run(mlflow, exp_id, marker, f"judge-examples-{export.pk}") as run,
        ):
            mlflow.log_artifacts(str(folder), artifact_path="judge_examples")
            run_id = run.info.run_id
        trace_ids = []
        requests = {}
        for row in export.examples():
            request = requests.get(row["request_id"])
            if request is None:
                request = requests[row["request_id"]] = Request.objects.get(pk=row["request_id"])
            trace_id = _trace_for(mlflow, request)
            reviewers = (
                Assessment.objects.filter(request=request)
                .latest_per_reviewer()
                .values_list("source_id", flat=True)
            )
            source_id = ",".join(sorted(set(reviewers))) or "reviewapp"
            metadata = {"reviewapp_export": marker, "request_id": row["request_id"]}
            if row.get("chunk_position") is not None:
                metadata["chunk_position"] = str(row["chunk_position"])
            trace = mlflow.get_trace(trace_id)
            done = [
                a
                for a in trace.info.assessments
                if a.name == row["judge"]
                and (a.metadata or {}).get("reviewapp_export") == marker
                and (a.metadata or {}).get("chunk_position") == metadata.get("chunk_position")
            ]
            span_id = None
            if row.get("chunk_position") is not None:
                # On the span that returned the passage (its first chunk), as MLflow's judges read it.
                chunk = next(
                    (c for c in request.chunks or [] if c.get("position") == row["chunk_position"]), {}
                )
                span_id = span_for(trace, chunk.get("span_id", ""), [chunk.get("span_name") or "retrieve"])
            if not done:
                mlflow.log_feedback(
                    trace_id=trace_id,
                    name=row["judge"],
                    value=bool(row["value"]),
                    rationale=row.get("rationale") or None,
                    source=AssessmentSource(source_type="HUMAN", source_id=source_id),
                    metadata=metadata,
                    span_id=span_id,
                )
            if trace_id not in trace_ids:
                trace_ids.append(trace_id)
            _renew(export)
        listing = ContentFile(json.dumps(trace_ids, indent=1).encode(), name="trace_ids.json")
        files.save(storage, f"{export.relative_dir}/trace_ids.json", listing)
        with (
            files.local_copy(storage, f"{export.relative_dir}/trace_ids.json") as path,
            mlflow.start_run(run_id=run_id),
        ):
            mlflow.log_artifact(str(path), artifact_path="judge_examples")
    export.files = {**export.files, "trace_ids.json": {}}
    export.trace_ids = trace_ids
    export.mlflow_run_id, export.mlflow_experiment_id = run_id, exp_id
    _finish(export, ["files", "trace_ids", "mlflow_run_id", "mlflow_experiment_id"])
    return export
