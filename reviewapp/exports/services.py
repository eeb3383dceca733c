"""Export workflows: start a job, write its files atomically, then log them to MLflow.

A job writes into a private temporary folder, then, in one transaction, numbers the version,
renames the folder into place and creates the row. A failed or killed job leaves no version;
a retried one finds the version its job id already made. The MLflow step runs after the files
exist and is retried on its own, so a tracking store that is down never loses an export.
"""

import heapq
import itertools
import json
import logging
import shutil
import time
from collections import Counter
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from reviewapp.catalog.models import App
from reviewapp.jobs import services as jobs
from reviewapp.jobs.models import Job

from . import rows as R
from .models import (
    JUDGE_NAME_RE,
    CustomJudge,
    EvaluationSet,
    EvaluationSetVersion,
    JudgeExport,
    MlflowStatus,
    validate_set_name,
)
from .selection import Filters, curated_requests, iter_reviewed
from .writers import JsonlWriter, TableWriter, describe_files, evaluation_schema

log = logging.getLogger(__name__)

EVALUATION_SET_KIND = "export_evaluation_set"
JUDGE_EXAMPLES_KIND = "export_judge_examples"
PROGRESS_EVERY = 1000
MLFLOW_BATCH = 1000
DEFAULT_EXAMPLES_PER_JUDGE = 10


def experiment_name(app: App) -> str:
    return app.mlflow_experiment_name()


# --- starting jobs -------------------------------------------------------------------------


def _check_selection(app: App, filters: Filters) -> int:
    total = curated_requests(app=app, filters=filters).count()
    if not total:
        field = "request_ids" if filters.request_ids else "filters"
        raise ValidationError({field: "The selection is empty: no reviewed request matches."})
    return total


def _check_rule(rule: str) -> None:
    if rule not in R.RULES:
        raise ValidationError(
            {"rule": f"Unknown disagreement rule {rule!r}; use one of {', '.join(R.RULES)}."}
        )


def start_evaluation_set_export(
    *,
    app: App,
    user,
    name: str,
    filters: Filters,
    rule: str = "majority",
    include_outputs: bool = False,
    throttle_ms: int = 0,
) -> Job:
    """Validate, then queue the job that writes the next version of evaluation set `name`."""
    from .tasks import export_evaluation_set_task

    validate_set_name(name)
    _check_rule(rule)
    total = _check_selection(app, filters)
    params = {
        "name": name,
        "filters": filters.as_dict(),
        "rule": rule,
        "include_outputs": include_outputs,
        "selected": total,
    }
    if throttle_ms:  # tests only: makes a job slow enough to be killed mid-way
        params["throttle_ms"] = throttle_ms
    with transaction.atomic():
        return jobs.enqueue(
            kind=EVALUATION_SET_KIND, app=app, user=user, params=params, task=export_evaluation_set_task
        )


def start_judge_export(
    *,
    app: App,
    user,
    filters: Filters,
    rule: str = "majority",
    judges: list[str] | None = None,
    examples_per_judge: int = DEFAULT_EXAMPLES_PER_JUDGE,
    holdout_set: str = "",
    holdout_by: str = "request",
) -> Job:
    """Validate, then queue the job that writes judge few-shot examples from the curated feedback."""
    from .tasks import export_judge_examples_task

    _check_rule(rule)
    custom = set(CustomJudge.objects.filter(app=app).values_list("name", flat=True))
    known = set(R.BUILTIN_JUDGES) | custom
    judges = list(judges or sorted(known, key=lambda j: (j not in R.BUILTIN_JUDGES, j)))
    unknown = [j for j in judges if j not in known]
    if unknown:
        raise ValidationError(
            {"judges": f"Unknown judge(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}."}
        )
    if not 1 <= examples_per_judge <= 1000:
        raise ValidationError({"examples_per_judge": "Give a number from 1 to 1000."})
    if holdout_by not in ("request", "conversation"):
        raise ValidationError({"holdout_by": "Use 'request' or 'conversation'."})
    if holdout_set and not EvaluationSet.objects.filter(app=app, name=holdout_set).exists():
        raise ValidationError({"holdout_set": f"There is no evaluation set {holdout_set!r} for this app."})
    total = _check_selection(app, filters)
    params = {
        "filters": filters.as_dict(),
        "rule": rule,
        "judges": judges,
        "examples_per_judge": examples_per_judge,
        "holdout_set": holdout_set,
        "holdout_by": holdout_by,
        "selected": total,
    }
    with transaction.atomic():
        return jobs.enqueue(
            kind=JUDGE_EXAMPLES_KIND, app=app, user=user, params=params, task=export_judge_examples_task
        )


@transaction.atomic
def create_custom_judge(
    *, app: App, user, name: str, type: str, definition: str, reasons: list[str]
) -> CustomJudge:
    errors = {}
    if not JUDGE_NAME_RE.match(name or ""):
        errors["name"] = "Use lower-case letters, digits and '_', starting with a letter (at most 80)."
    elif name in R.BUILTIN_JUDGES or CustomJudge.objects.filter(app=app, name=name).exists():
        errors["name"] = ValidationError(f"A judge named {name!r} already exists.", code="conflict")
    if type not in CustomJudge.Type.values:
        errors["type"] = "Use ANSWER or RETRIEVAL."
    if not (definition or "").strip():
        errors["definition"] = "Say what the judge checks."
    if errors:
        raise ValidationError(errors)
    return CustomJudge.objects.create(
        app=app, name=name, type=type, definition=definition.strip(), reasons=list(reasons), created_by=user
    )


# --- the export jobs -----------------------------------------------------------------------


def _temp_dir(job: Job) -> Path:
    root = settings.EXPORT_DIR / ".tmp"
    for stale in root.glob(f"{job.id}-*"):  # left by an earlier, killed attempt
        shutil.rmtree(stale, ignore_errors=True)
    folder = root / f"{job.id}-{job.attempts}"
    folder.mkdir(parents=True)
    return folder


def _throttle(job: Job) -> None:
    if job.params.get("throttle_ms"):
        time.sleep(job.params["throttle_ms"] / 1000)


def _place(temp: Path, relative: str) -> None:
    final = settings.EXPORT_DIR / relative
    if final.exists():  # an earlier attempt renamed it, then died before committing
        shutil.rmtree(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    temp.rename(final)


def version_result(version: EvaluationSetVersion) -> dict:
    return {
        "evaluation_set": version.evaluation_set.name,
        "version": version.number,
        "version_id": version.pk,
        "row_count": version.row_count,
        "files": sorted(version.files),
        "mlflow_status": version.mlflow_status,
    }


def export_evaluation_set(job: Job) -> dict:
    """The work of an evaluation-set job: stream, write, then publish the version at once."""
    existing = EvaluationSetVersion.objects.filter(job=job).select_related("evaluation_set").first()
    if existing:  # a retry of a job that already published its version
        return version_result(existing)
    app, params = job.app, job.params
    filters = Filters.from_dict(params.get("filters"))
    include_outputs = bool(params.get("include_outputs"))
    rule = params.get("rule", "majority")
    total = curated_requests(app=app, filters=filters).count()
    job.report_progress(0, total)

    temp = _temp_dir(job)
    try:
        return _write_evaluation_set(job, temp, filters=filters, rule=rule, include_outputs=include_outputs)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)  # nothing partial is left behind
        raise


def _write_evaluation_set(
    job: Job, temp: Path, *, filters: Filters, rule: str, include_outputs: bool
) -> dict:
    app, params = job.app, job.params
    columns = ["request_id", "request", "expected_response", "expected_retrieved_context"]
    if include_outputs:
        columns += ["response", "retrieved_context"]
    table = TableWriter(temp, "evaluation_set", columns, evaluation_schema(include_outputs))
    mlflow_form = JsonlWriter(temp / "mlflow_records.jsonl")
    request_ids, conversation_ids = [], set()
    app_versions, instructions_versions = Counter(), Counter()
    seen = left_out = 0
    reported = time.monotonic()
    for item in iter_reviewed(app=app, filters=filters):
        seen += 1
        verdict = R.resolve(item, rule)
        row = R.evaluation_row(item, verdict, include_outputs=include_outputs) if verdict else None
        if row is None:
            left_out += 1
        else:
            table.write(row)
            mlflow_form.write(R.mlflow_record(item, row))
            request_ids.append(item.request_id)
            conversation_ids.add(item.conversation_id)
            app_versions[item.app_version] += 1
            for a in item.assessments:
                if a["instructions_version"] is not None:
                    instructions_versions[str(a["instructions_version"])] += 1
        if seen % PROGRESS_EVERY == 0 or time.monotonic() - reported > 1:
            job.report_progress(seen)
            reported = time.monotonic()
        _throttle(job)
    names = table.close() + mlflow_form.close()
    if not request_ids:
        raise ValueError(
            f"Nothing to export: the {seen} selected requests have no expected response or context "
            f"under the {rule!r} rule."
        )
    files = describe_files(temp, names)
    manifest = {
        "kind": "evaluation_set",
        "app": app.slug,
        "evaluation_set": params["name"],
        "row_count": len(request_ids),
        "selected": seen,
        "left_out": left_out,
        "rule": rule,
        "rule_means": R.RULE_HELP[rule],
        "include_outputs": include_outputs,
        "filters": filters.as_dict(),
        "app_versions": dict(app_versions),
        "instructions_versions": dict(instructions_versions),
        "request_ids": request_ids,
        "conversation_ids": sorted(conversation_ids),
        "files": files,
        "job_id": str(job.id),
        "created_by": job.created_by.email if job.created_by else None,
    }
    with transaction.atomic():
        evaluation_set, _ = EvaluationSet.objects.get_or_create(app=app, name=params["name"])
        evaluation_set = EvaluationSet.objects.select_for_update().get(pk=evaluation_set.pk)
        number = (evaluation_set.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        created_at = timezone.now()
        manifest.update(version=number, created_at=created_at.isoformat())
        (temp / "manifest.json").write_text(json.dumps(manifest, indent=1))
        relative = f"evaluation-sets/{app.slug}/{params['name']}/{job.id}"
        _place(temp, relative)
        version = EvaluationSetVersion.objects.create(
            evaluation_set=evaluation_set,
            number=number,
            job=job,
            row_count=len(request_ids),
            files={
                **files,
                "manifest.json": {"bytes": (settings.EXPORT_DIR / relative / "manifest.json").stat().st_size},
            },
            relative_dir=relative,
            manifest={k: v for k, v in manifest.items() if k not in ("request_ids", "conversation_ids")},
            created_by=job.created_by,
            created_at=created_at,
        )
        job.report_progress(seen)
        transaction.on_commit(lambda: queue_mlflow_step(version))
    return version_result(version)


def queue_mlflow_step(obj: EvaluationSetVersion | JudgeExport, countdown: int = 0) -> None:
    from .tasks import log_evaluation_set_task, log_judge_export_task

    task = log_evaluation_set_task if isinstance(obj, EvaluationSetVersion) else log_judge_export_task
    task.apply_async((obj.pk,), countdown=countdown)


# --- judge few-shot examples ---------------------------------------------------------------


def _holdout(app: App, name: str, by: str) -> tuple[set[str], str]:
    """Request or conversation ids used by any version of evaluation set `name`."""
    key = "request_ids" if by == "request" else "conversation_ids"
    ids: set[str] = set()
    for version in EvaluationSetVersion.objects.filter(evaluation_set__app=app, evaluation_set__name=name):
        path = version.directory / "manifest.json"
        ids.update(json.loads(path.read_text()).get(key, []))
    return ids, by


class _Best:
    """The `size` highest-priority examples of one (judge, value), oldest first on ties."""

    def __init__(self, size: int):
        self.size, self.heap, self.counter = size, [], itertools.count()

    def offer(self, example: R.Example) -> None:
        # Ties keep the first seen; the heap holds the smallest key at the top.
        key = (R.priority(example), -next(self.counter))
        if len(self.heap) < self.size:
            heapq.heappush(self.heap, (key, example))
        elif key > self.heap[0][0]:
            heapq.heapreplace(self.heap, (key, example))

    def best(self) -> list[R.Example]:
        return [example for _, example in sorted(self.heap, key=lambda kv: kv[0], reverse=True)]


def balance(true_examples: list[R.Example], false_examples: list[R.Example], size: int) -> list[R.Example]:
    """As many true as false examples (disagreement first), up to `size`; one side if that is all."""
    half = max(size // 2, 1)
    if true_examples and false_examples:
        n = min(half, len(true_examples), len(false_examples))
        chosen = true_examples[:n] + false_examples[:n]
    else:
        chosen = (true_examples or false_examples)[:half]
    return sorted(chosen, key=R.priority, reverse=True)


def judge_config(examples: dict[str, list[R.Example]], custom: list[CustomJudge]) -> dict:
    """The reference's YAML: `builtin_assessments:` and `assessment_judges:` with examples."""

    def entries(judge: str, fields: tuple[str, ...]) -> list[dict]:
        out = []
        for example in examples.get(judge, []):
            entry = {f: example.fields[f] for f in fields}
            entry["value"] = example.value
            if example.rationale:
                entry["rationale"] = example.rationale
            out.append(entry)
        return out

    config: dict = {
        "builtin_assessments": [
            {judge: {"examples": entries(judge, R.JUDGE_FIELDS[judge])}}
            for judge in R.BUILTIN_JUDGES
            if judge in examples
        ]
    }
    if custom:
        config["assessment_judges"] = [
            {
                "judge_name": "reviewapp_custom",
                "assessments": [
                    {
                        "name": judge.name,
                        "type": judge.type,
                        "definition": judge.definition,
                        "examples": entries(
                            judge.name,
                            ("request", "response")
                            if judge.type == "ANSWER"
                            else ("request", "retrieved_context"),
                        ),
                    }
                    for judge in custom
                ],
            }
        ]
    return config


def judge_result(export: JudgeExport) -> dict:
    return {
        "judge_export_id": export.pk,
        "example_count": export.example_count,
        "files": sorted(export.files),
        "mlflow_status": export.mlflow_status,
        "per_judge": export.manifest.get("per_judge", {}),
    }


def export_judge_examples(job: Job) -> dict:
    """The work of a judge-examples job: pick balanced, disagreement-first examples per judge."""
    import yaml

    existing = JudgeExport.objects.filter(job=job).first()
    if existing:
        return judge_result(existing)
    app, params = job.app, job.params
    filters = Filters.from_dict(params.get("filters"))
    rule = params.get("rule", "majority")
    size = int(params.get("examples_per_judge", DEFAULT_EXAMPLES_PER_JUDGE))
    judges = params["judges"]
    custom = list(CustomJudge.objects.filter(app=app, name__in=judges))
    holdout, holdout_by = (
        _holdout(app, params["holdout_set"], params["holdout_by"])
        if params.get("holdout_set")
        else (set(), "")
    )
    total = curated_requests(app=app, filters=filters).count()
    job.report_progress(0, total)

    best = {(judge, value): _Best(size) for judge in judges for value in (True, False)}
    seen = held_out = 0
    for item in iter_reviewed(app=app, filters=filters, with_judge_results=True):
        seen += 1
        key = item.request_id if holdout_by == "request" else item.conversation_id
        if holdout and key in holdout:
            held_out += 1
            continue
        verdict = R.resolve(item, rule)
        if verdict is not None:
            for example in R.judge_examples(item, verdict, custom):
                if (example.judge, example.value) in best:
                    best[(example.judge, example.value)].offer(example)
        if seen % PROGRESS_EVERY == 0:
            job.report_progress(seen)
    chosen = {}
    for judge in judges:
        picked = balance(best[(judge, True)].best(), best[(judge, False)].best(), size)
        if picked:
            chosen[judge] = picked
    if not chosen:
        raise ValueError(
            f"No judge examples: the {seen} selected requests give no example for {', '.join(judges)}."
        )

    temp = _temp_dir(job)
    config = judge_config(chosen, [c for c in custom if c.name in chosen])
    (temp / "judges.yaml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100))
    columns = [
        "judge",
        "request",
        "response",
        "context",
        "expected_response",
        "retrieved_context",
        "value",
        "rationale",
        "request_id",
        "chunk_position",
        "human_disagreement",
        "judge_disagreement",
    ]
    table = TableWriter(temp, "examples", columns)
    all_examples = [e for judge in chosen for e in chosen[judge]]
    for example in all_examples:
        table.write({c: example.as_row().get(c) for c in columns})
    names = ["judges.yaml", *table.close()]
    files = describe_files(temp, names)
    per_judge = {
        judge: {"true": sum(e.value for e in ex), "false": sum(not e.value for e in ex)}
        for judge, ex in chosen.items()
    }
    manifest = {
        "kind": "judge_examples",
        "app": app.slug,
        "example_count": len(all_examples),
        "per_judge": per_judge,
        "selected": seen,
        "held_out": held_out,
        "holdout": {"set": params.get("holdout_set", ""), "by": params.get("holdout_by")},
        "rule": rule,
        "filters": filters.as_dict(),
        "request_ids": sorted({e.request_id for e in all_examples}),
        "files": files,
        "job_id": str(job.id),
        "created_by": job.created_by.email if job.created_by else None,
        "created_at": timezone.now().isoformat(),
    }
    (temp / "manifest.json").write_text(json.dumps(manifest, indent=1))
    with transaction.atomic():
        relative = f"judge-examples/{app.slug}/{job.id}"
        _place(temp, relative)
        export = JudgeExport.objects.create(
            app=app,
            job=job,
            example_count=len(all_examples),
            files={**files, "manifest.json": {}},
            relative_dir=relative,
            manifest={k: v for k, v in manifest.items() if k != "request_ids"},
            created_by=job.created_by,
        )
        job.report_progress(seen)
        transaction.on_commit(lambda: queue_mlflow_step(export))
    return judge_result(export)


def read_examples(export: JudgeExport) -> list[dict]:
    with (export.directory / "examples.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


# --- the MLflow step -----------------------------------------------------------------------


def _claim_mlflow(model, pk: int):
    """The row, counted as one more attempt, unless its MLflow step is already done."""
    with transaction.atomic():
        obj = model.objects.select_for_update().filter(pk=pk).first()
        if obj is None or obj.mlflow_status == MlflowStatus.DONE:
            return None
        obj.mlflow_attempts += 1
        obj.save(update_fields=["mlflow_attempts"])
    return obj


def _record_mlflow_failure(obj, exc: Exception, final: bool) -> None:
    obj.mlflow_error = f"{type(exc).__name__}: {exc}"[:2000]
    obj.mlflow_status = MlflowStatus.FAILED if final else MlflowStatus.PENDING
    obj.save(update_fields=["mlflow_error", "mlflow_status"])


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


def log_evaluation_set(*, version_id: int, final_attempt: bool = False) -> EvaluationSetVersion | None:
    """Log a version to MLflow: a run with the dataset as input and the files as artifacts, and
    a GenAI evaluation dataset with the records. Safe to repeat: it finds what it made before."""
    from reviewapp.chains.mlflow_setup import configure, experiment_id

    version = _claim_mlflow(EvaluationSetVersion, version_id)
    if version is None:
        return None
    app = version.evaluation_set.app
    try:
        mlflow = configure()
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.data.sources import LocalArtifactDatasetSource
        from mlflow.genai.datasets import create_dataset, search_datasets

        exp_id = experiment_id(experiment_name(app))
        dataset_name = f"{version.evaluation_set.name}-v{version.number}"
        folder = version.directory
        # The job id, not the row id: row ids repeat when a database is rebuilt, MLflow runs stay.
        tag = f"evaluation_set:{version.job_id}"
        with _find_or_start_run(mlflow, exp_id, tag, dataset_name) as run:
            dataset = MetaDataset(
                source=LocalArtifactDatasetSource(str(folder / "evaluation_set.parquet")),
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
        evaluation_dataset = found[0] if found else create_dataset(name=dataset_name, experiment_id=exp_id)
        # merge_records is keyed on the inputs, so a repeated batch changes nothing.
        with (folder / "mlflow_records.jsonl").open(encoding="utf-8") as handle:
            while batch := [json.loads(line) for line in itertools.islice(handle, MLFLOW_BATCH)]:
                evaluation_dataset.merge_records(batch)
    except Exception as exc:
        log.warning("MLflow step for evaluation set version %s failed: %s", version.pk, exc)
        _record_mlflow_failure(version, exc, final_attempt)
        raise
    version.mlflow_status = MlflowStatus.DONE
    version.mlflow_error = ""
    version.mlflow_run_id, version.mlflow_experiment_id = run_id, exp_id
    version.mlflow_dataset_id = evaluation_dataset.dataset_id
    version.save(
        update_fields=[
            "mlflow_status",
            "mlflow_error",
            "mlflow_run_id",
            "mlflow_experiment_id",
            "mlflow_dataset_id",
        ]
    )
    return version


def _trace_for(mlflow, example_row: dict, request) -> str:
    """The request's MLflow trace id; a trace is made from the logged request where it has none."""
    from reviewapp.requestlog.models import Request

    if request.mlflow_trace_id:
        return request.mlflow_trace_id
    with mlflow.start_span(name="reviewapp_request", span_type="CHAIN") as root:
        root.set_inputs({"messages": request.messages})
        if request.chunks:
            with mlflow.start_span(name="retrieve", span_type="RETRIEVER") as span:
                span.set_inputs({"query": request.request_text})
                span.set_outputs(
                    [
                        {"page_content": c.get("content", ""), "metadata": {"doc_uri": c.get("doc_uri", "")}}
                        for c in request.chunks
                    ]
                )
        root.set_outputs(request.response)
        trace_id = root.trace_id
    mlflow.flush_trace_async_logging()
    # Remember it, so a retry or a later export reuses the same trace.
    Request.objects.filter(pk=request.pk, mlflow_trace_id="").update(mlflow_trace_id=trace_id)
    return Request.objects.values_list("mlflow_trace_id", flat=True).get(pk=request.pk)


def log_judge_export(*, export_id: int, final_attempt: bool = False) -> JudgeExport | None:
    """Log a judge export to MLflow: the files as artifacts of a run, and each example as HUMAN
    feedback named after its judge on the request's trace (for `judge.align(traces)`)."""
    from mlflow.entities import AssessmentSource

    from reviewapp.chains.mlflow_setup import configure, experiment_id
    from reviewapp.feedback.models import Assessment
    from reviewapp.requestlog.models import Request

    export = _claim_mlflow(JudgeExport, export_id)
    if export is None:
        return None
    try:
        mlflow = configure()
        exp_id = experiment_id(experiment_name(export.app))
        mlflow.set_experiment(experiment_id=exp_id)
        marker = f"judge_export:{export.job_id}"
        with _find_or_start_run(mlflow, exp_id, marker, f"judge-examples-{export.pk}") as run:
            mlflow.log_artifacts(str(export.directory), artifact_path="judge_examples")
            run_id = run.info.run_id
        trace_ids = []
        requests = {}
        for row in read_examples(export):
            request = requests.get(row["request_id"])
            if request is None:
                request = requests[row["request_id"]] = Request.objects.get(pk=row["request_id"])
            trace_id = _trace_for(mlflow, row, request)
            reviewers = (
                Assessment.objects.filter(request=request).effective().values_list("source_id", flat=True)
            )
            source_id = ",".join(sorted(set(reviewers))) or "reviewapp"
            metadata = {"reviewapp_export": marker, "request_id": row["request_id"]}
            if row.get("chunk_position") is not None:
                metadata["chunk_position"] = str(row["chunk_position"])
            done = [
                a
                for a in mlflow.get_trace(trace_id).info.assessments
                if a.name == row["judge"]
                and (a.metadata or {}).get("reviewapp_export") == marker
                and (a.metadata or {}).get("chunk_position") == metadata.get("chunk_position")
            ]
            if not done:
                mlflow.log_feedback(
                    trace_id=trace_id,
                    name=row["judge"],
                    value=bool(row["value"]),
                    rationale=row.get("rationale") or None,
                    source=AssessmentSource(source_type="HUMAN", source_id=source_id),
                    metadata=metadata,
                )
            if trace_id not in trace_ids:
                trace_ids.append(trace_id)
        (export.directory / "trace_ids.json").write_text(json.dumps(trace_ids, indent=1))
        with mlflow.start_run(run_id=run_id):
            mlflow.log_artifact(str(export.directory / "trace_ids.json"), artifact_path="judge_examples")
    except Exception as exc:
        log.warning("MLflow step for judge export %s failed: %s", export.pk, exc)
        _record_mlflow_failure(export, exc, final_attempt)
        raise
    export.files = {**export.files, "trace_ids.json": {}}
    export.trace_ids = trace_ids
    export.mlflow_status = MlflowStatus.DONE
    export.mlflow_error = ""
    export.mlflow_run_id, export.mlflow_experiment_id = run_id, exp_id
    export.save(
        update_fields=[
            "files",
            "trace_ids",
            "mlflow_status",
            "mlflow_error",
            "mlflow_run_id",
            "mlflow_experiment_id",
        ]
    )
    return export
