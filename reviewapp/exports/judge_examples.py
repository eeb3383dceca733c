"""The judge-examples job: balanced, disagreement-first few-shot examples per judge, as the
reference's YAML config and as a table, published at once like an evaluation-set version."""

import heapq
import itertools
import json
import time

from django.db import transaction
from django.utils import timezone

from reviewapp.catalog.models import App
from reviewapp.jobs.models import Job
from reviewapp.reliability.services import weights_for

from .mlflow_step import queue_mlflow_step
from .models import CustomJudge, EvaluationSetVersion, JudgeExport
from .rows import BUILTIN_JUDGES, JUDGE_FIELDS, Example, judge_examples, priority, resolve
from .selection import Filters, curated_requests, iter_reviewed
from .writers import (
    Attempt,
    TableWriter,
    attempt,
    describe_files,
    move_into_place,
)

PROGRESS_EVERY = 1000
DEFAULT_EXAMPLES_PER_JUDGE = 10
COLUMNS = [
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
    "status",
]


def _holdout(app: App, name: str, by: str) -> set[str]:
    """Request or conversation ids used by any version of evaluation set `name`."""
    key = "request_ids" if by == "request" else "conversation_ids"
    ids: set[str] = set()
    for version in EvaluationSetVersion.objects.filter(evaluation_set__app=app, evaluation_set__name=name):
        ids.update(version.read_json("manifest.json").get(key, []))
    return ids


class _Best:
    """The `size` highest-priority examples of one (judge, value), oldest first on ties."""

    def __init__(self, size: int):
        self.size, self.heap, self.counter = size, [], itertools.count()

    def offer(self, example: Example) -> None:
        # Ties keep the first seen; the heap holds the smallest key at the top.
        key = (priority(example), -next(self.counter))
        if len(self.heap) < self.size:
            heapq.heappush(self.heap, (key, example))
        elif key > self.heap[0][0]:
            heapq.heapreplace(self.heap, (key, example))

    def best(self) -> list[Example]:
        return [example for _, example in sorted(self.heap, key=lambda kv: kv[0], reverse=True)]


def balance(true_examples: list[Example], false_examples: list[Example], size: int) -> list[Example]:
    """As many true as false examples (disagreement first), up to `size`; one side if that is all."""
    half = max(size // 2, 1)
    if true_examples and false_examples:
        n = min(half, len(true_examples), len(false_examples))
        chosen = true_examples[:n] + false_examples[:n]
    else:
        chosen = (true_examples or false_examples)[:half]
    return sorted(chosen, key=priority, reverse=True)


def judge_config(examples: dict[str, list[Example]], custom: list[CustomJudge]) -> dict:
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
            {judge: {"examples": entries(judge, JUDGE_FIELDS[judge])}}
            for judge in BUILTIN_JUDGES
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


def _choose(job: Job, filters: Filters, custom: list[CustomJudge]) -> tuple[dict[str, list[Example]], dict]:
    """The examples picked per judge, and what the manifest says about the selection."""
    app, params = job.app, job.params
    rule = params.get("rule", "majority")
    size = int(params.get("examples_per_judge", DEFAULT_EXAMPLES_PER_JUDGE))
    judges = params["judges"]
    holdout_by = params["holdout_by"] if params.get("holdout_set") else ""
    holdout = _holdout(app, params["holdout_set"], holdout_by) if holdout_by else set()
    job.report_progress(0, curated_requests(app=app, filters=filters).count())

    best = {(judge, value): _Best(size) for judge in judges for value in (True, False)}
    seen = held_out = 0
    reported = time.monotonic()
    weights = weights_for(app, rule)
    for item in iter_reviewed(app=app, filters=filters, with_judge_results=True, weights=weights):
        seen += 1
        # Progress renews the job's lease: report on time too, so slow items never let it run out.
        if seen % PROGRESS_EVERY == 0 or time.monotonic() - reported > 1:
            job.report_progress(seen)
            reported = time.monotonic()
        key = item.request_id if holdout_by == "request" else item.conversation_id
        if holdout and key in holdout:
            held_out += 1
            continue
        verdict = resolve(item, rule)
        if verdict is not None:
            for example in judge_examples(item, verdict, custom):
                if (example.judge, example.value) in best:
                    best[(example.judge, example.value)].offer(example)
    chosen = {}
    for judge in judges:
        picked = balance(best[(judge, True)].best(), best[(judge, False)].best(), size)
        if picked:
            chosen[judge] = picked
    if not chosen:
        raise ValueError(
            f"No judge examples: the {seen} selected requests give no example for {', '.join(judges)}."
        )
    about = {
        "selected": seen,
        "held_out": held_out,
        "holdout": {"set": params.get("holdout_set", ""), "by": params.get("holdout_by")},
        "rule": rule,
    }
    return chosen, about


def export_judge_examples(job: Job) -> dict:
    """The work of a judge-examples job: pick the examples, write them, publish them at once."""
    existing = JudgeExport.objects.filter(job=job).first()
    if existing:
        return judge_result(existing)
    app = job.app
    filters = Filters.from_dict(job.params.get("filters"))
    custom = list(CustomJudge.objects.filter(app=app, name__in=job.params["judges"]))
    chosen, about = _choose(job, filters, custom)
    with attempt(job, f"judge-examples/{app.slug}", JudgeExport.objects) as folders:
        return _publish(job, folders, chosen=chosen, about=about, custom=custom, filters=filters)


def _publish(
    job: Job,
    folders: Attempt,
    *,
    chosen: dict[str, list[Example]],
    about: dict,
    custom: list[CustomJudge],
    filters: Filters,
) -> dict:
    """Write the chosen examples into the attempt's temporary folder, then publish them with their row."""
    import yaml

    temp, relative = folders.temp, folders.relative

    app = job.app
    config = judge_config(chosen, [c for c in custom if c.name in chosen])
    (temp / "judges.yaml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100))
    table = TableWriter(temp, "examples", COLUMNS)
    all_examples = [e for judge in chosen for e in chosen[judge]]
    for example in all_examples:
        table.write({c: example.as_row().get(c) for c in COLUMNS})
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
        **about,
        "filters": filters.as_dict(),
        "request_ids": sorted({e.request_id for e in all_examples}),
        "files": files,
        "job_id": str(job.id),
        "created_by": job.created_by.email if job.created_by else None,
        "created_at": timezone.now().isoformat(),
    }
    # Still this attempt's job (LeaseLost if not) before the storage is touched at all.
    job.report_progress(about["selected"])
    folders.stage()
    (temp / "manifest.json").write_text(json.dumps(manifest, indent=1))
    with transaction.atomic():
        # Fenced first: from here to the commit, no other attempt can take the job over.
        job.report_progress(about["selected"])
        move_into_place(temp, relative)
        export = JudgeExport.objects.create(
            app=app,
            job=job,
            example_count=len(all_examples),
            files={**files, "manifest.json": {}},
            relative_dir=relative,
            manifest={k: v for k, v in manifest.items() if k != "request_ids"},
            created_by=job.created_by,
        )
        transaction.on_commit(lambda: queue_mlflow_step(export))
    return judge_result(export)
