"""Running a judge version over a selection of reviewed requests (a job), and what it says of one."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.db import transaction

from reviewapp.exports.rows import resolve
from reviewapp.exports.selection import Filters, Reviewed, iter_reviewed
from reviewapp.jobs.models import Job
from reviewapp.monitoring import metrics as counters

from . import metrics
from .models import JudgeResult, JudgeVersion

BATCH = 200
# The reviewers' joint verdict a judge reads (its reference, its chunk ratings): the majority, as
# the exports' default rule; a tie gives no verdict, so nothing to judge by.
RULE = "majority"


@dataclass
class Outcome:
    value: str  # JudgeResult.Value
    score: float
    rationale: str


def _percent(score: float) -> str:
    return f"{score * 100:.0f}%"


def judge(version: JudgeVersion, item: Reviewed) -> Outcome | str:
    """What `version` says of `item`, or why it cannot judge it (a short reason, counted by runs)."""
    kind, metric = version.judge.kind, version.metric
    verdict = resolve(item, RULE)
    if kind == "groundedness":
        grounding = metrics.lexical_groundedness(item.response, [p.get("content", "") for p in item.passages])
        if grounding is None:
            return "no answer sentence or no passage"
        score = grounding.score
        rationale = (
            f"{grounding.sentences - len(grounding.ungrounded)} of {grounding.sentences} sentences grounded"
        )
        if grounding.ungrounded:
            shown = grounding.ungrounded[: metrics.SHOWN_SENTENCES]
            rationale += "; not found in the passages: " + " | ".join(shown)
    elif kind == "reference":
        if verdict is None or not verdict.correction:
            return "no correction to compare with"
        score = metrics.REFERENCE[metric](item.response, verdict.correction)
        rationale = f"{metric} against the reviewers' correction: {score:.3f}"
    else:
        rank_of = {p["position"]: rank for rank, p in enumerate(item.passages, 1)}
        score = None if verdict is None else metrics.retrieval_score(metric, verdict.relevant, rank_of)
        if score is None:
            return "no passage rated"
        rationale = f"{metric} of the passages the reviewers rated: {score:.3f}"
    value = JudgeResult.Value.PASS if score >= version.threshold else JudgeResult.Value.FAIL
    return Outcome(value, score, f"{rationale} (passes at {_percent(version.threshold)}).")


def run(job: Job) -> dict:
    """The job's work: judge each selected request once with the version it names; a request this
    version already judged (an earlier run, a retried job) is left as it is."""
    version = JudgeVersion.objects.select_related("judge__app").get(pk=job.params["version"])
    app = version.judge.app
    filters = Filters.from_dict(job.params["filters"])
    total = job.params.get("selected")
    counts = {"judged": 0, "already_judged": 0, "skipped": 0}
    reasons: dict[str, int] = {}
    batch: list[Reviewed] = []

    def flush() -> None:
        done = {
            str(request_id)
            for request_id in JudgeResult.objects.filter(
                version=version, request_id__in=[item.request_id for item in batch]
            ).values_list("request_id", flat=True)
        }
        rows = []
        for item in batch:
            if item.request_id in done:
                counts["already_judged"] += 1
                continue
            started = time.perf_counter()
            outcome = judge(version, item)
            if isinstance(outcome, str):
                counts["skipped"] += 1
                reasons[outcome] = reasons.get(outcome, 0) + 1
                continue
            rows.append(
                JudgeResult(
                    version=version,
                    request_id=item.request_id,
                    app=app,
                    app_version=item.app_version,
                    value=outcome.value,
                    score=outcome.score,
                    rationale=outcome.rationale,
                    latency_ms=round((time.perf_counter() - started) * 1000),
                )
            )
        JudgeResult.objects.bulk_create(rows, ignore_conflicts=True)
        counts["judged"] += len(rows)
        values = [row.value for row in rows]
        transaction.on_commit(
            lambda: counters.count_judge_results(
                app=app.slug, judge=version.judge.name, values=values, live=False
            )
        )
        batch.clear()
        job.report_progress(sum(counts.values()), total)

    for item in iter_reviewed(app=app, filters=filters):
        batch.append(item)
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    return {**counts, "skipped_because": reasons, "judge": version.judge.name, "version": version.number}
