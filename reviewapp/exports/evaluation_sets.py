"""The evaluation-set job: stream the curated rows into files, then publish them as a version.

The job writes into a private temporary folder, then, in one transaction, numbers the version,
publishes the files (writers.py, in a folder of the attempt's own) and creates the row. A failed
or killed job leaves no version; a retried one finds the version its job id already made.
"""

import gc
import json
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from reviewapp.jobs.models import Job
from reviewapp.reliability.services import weights_for

from .mlflow_step import queue_mlflow_step
from .models import EvaluationSet, EvaluationSetVersion
from .rows import RULE_HELP, evaluation_row, mlflow_record, resolve
from .selection import Filters, curated_requests, iter_reviewed
from .writers import (
    Attempt,
    JsonlWriter,
    TableWriter,
    attempt,
    describe_files,
    evaluation_schema,
    move_into_place,
)

PROGRESS_EVERY = 5000  # rows; or each second, whichever comes first


def version_result(version: EvaluationSetVersion) -> dict:
    return {
        "evaluation_set": version.evaluation_set.name,
        "version": version.number,
        "version_id": version.pk,
        "row_count": version.row_count,
        "files": sorted(version.files),
        "mlflow_status": version.mlflow_status,
    }


@contextmanager
def long_lived_objects_frozen() -> Iterator[None]:
    """Keep the objects that exist now (the worker's modules, a few hundred thousand) out of the
    garbage collector's full passes while a job streams: each pass would walk them all, and the
    stream makes enough short-lived objects to start several, a tenth of the job's time."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def export_evaluation_set(job: Job) -> dict:
    """The work of an evaluation-set job: stream, write, then publish the version at once."""
    existing = EvaluationSetVersion.objects.filter(job=job).select_related("evaluation_set").first()
    if existing:  # a retry of a job that already published its version
        return version_result(existing)
    filters = Filters.from_dict(job.params.get("filters"))
    job.report_progress(0, curated_requests(app=job.app, filters=filters).count())
    base = f"evaluation-sets/{job.app.slug}/{job.params['name']}"
    with attempt(job, base, EvaluationSetVersion.objects) as folders:
        return _write(
            job,
            folders,
            filters=filters,
            rule=job.params.get("rule", "majority"),
            include_outputs=bool(job.params.get("include_outputs")),
        )


def _write(job: Job, folders: Attempt, *, filters: Filters, rule: str, include_outputs: bool) -> dict:
    temp, relative = folders.temp, folders.relative
    app, params = job.app, job.params
    columns = ["request_id", "request", "expected_response", "expected_retrieved_context"]
    if include_outputs:
        columns += ["response", "retrieved_context", "status"]
    table = TableWriter(temp, "evaluation_set", columns, evaluation_schema(include_outputs))
    mlflow_form = JsonlWriter(temp / "mlflow_records.jsonl")
    request_ids, conversation_ids = [], set()
    app_versions, instructions_versions = Counter(), Counter()
    seen = left_out = 0
    reported = time.monotonic()
    with long_lived_objects_frozen():
        for item in iter_reviewed(app=app, filters=filters, weights=weights_for(app, rule)):
            seen += 1
            verdict = resolve(item, rule)
            row = evaluation_row(item, verdict, include_outputs=include_outputs) if verdict else None
            if row is None:
                left_out += 1
            else:
                table.write(row)
                mlflow_form.write(mlflow_record(item, row))
                request_ids.append(item.request_id)
                conversation_ids.add(item.conversation_id)
                app_versions[item.app_version] += 1
                for a in item.assessments:
                    if a["instructions_version"] is not None:
                        instructions_versions[str(a["instructions_version"])] += 1
            if seen % PROGRESS_EVERY == 0 or time.monotonic() - reported > 1:
                job.report_progress(seen)
                reported = time.monotonic()
    names = table.close() + mlflow_form.close()
    if not request_ids:
        raise ValueError(
            f"Nothing to export: the {seen} selected requests have no expected response or context "
            f"under the {rule!r} rule."
        )
    files = describe_files(temp, names)
    # Still this attempt's job (LeaseLost if not) before the storage is touched at all.
    job.report_progress(seen)
    folders.stage()
    manifest = {
        "kind": "evaluation_set",
        "app": app.slug,
        "evaluation_set": params["name"],
        "row_count": len(request_ids),
        "selected": seen,
        "left_out": left_out,
        "rule": rule,
        "rule_means": RULE_HELP[rule],
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
        # Fenced first: from here to the commit, no other attempt can take the job over.
        job.report_progress(seen)
        evaluation_set, _ = EvaluationSet.objects.get_or_create(app=app, name=params["name"])
        evaluation_set = EvaluationSet.objects.select_for_update().get(pk=evaluation_set.pk)
        number = (evaluation_set.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        created_at = timezone.now()
        manifest.update(version=number, created_at=created_at.isoformat())
        manifest_bytes = (temp / "manifest.json").write_bytes(json.dumps(manifest, indent=1).encode())
        move_into_place(temp, relative)
        version = EvaluationSetVersion.objects.create(
            evaluation_set=evaluation_set,
            number=number,
            job=job,
            row_count=len(request_ids),
            files={
                **files,
                "manifest.json": {"bytes": manifest_bytes},
            },
            relative_dir=relative,
            manifest={k: v for k, v in manifest.items() if k not in ("request_ids", "conversation_ids")},
            created_by=job.created_by,
            created_at=created_at,
        )
        transaction.on_commit(lambda: queue_mlflow_step(version))
    return version_result(version)
