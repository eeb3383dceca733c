"""Running a judge version over a selection of reviewed requests (a job), and what it says of one."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.db import transaction

from reviewapp.exports.rows import resolve
from reviewapp.exports.selection import Filters, Reviewed, iter_reviewed
from reviewapp.jobs.models import Job
from reviewapp.monitoring import metrics as counters

from . import llm, metrics, mlflow_write
from .models import Judge, JudgeResult, JudgeVersion

BATCH = 200
LLM_BATCH = 20  # an LLM judge's results show as they come, a batch at a time
# Calls to a judge model at once within a run: its answers take seconds, most of it waiting.
LLM_CALLS_AT_ONCE = 4
# A run stops when the judge model failed this many requests in a row: it is down or misconfigured,
# and going on would only record the same error for every request.
FAILING_IN_A_ROW = 5
# The reviewers' joint verdict a judge reads (its reference, its chunk ratings): the majority, as
# the exports' default rule; a tie gives no verdict, so nothing to judge by.
RULE = "majority"


@dataclass
class Outcome:
    value: str  # JudgeResult.Value
    score: float | None
    rationale: str  # an error's raw reply
    model: str = ""
    input_tokens: int | None = None
    output_tokens: int | None = None


class JudgeModelFailing(Exception):
    """The judge model failed request after request; the run stops with what it has."""


def _llm(version: JudgeVersion, item: Reviewed, verdict) -> Outcome | str:
    criterion = version.metric
    passages = [p.get("content", "") for p in item.passages]
    # As the judge-examples export has it: the correction, or the answer the reviewers approved.
    expected = ""
    if verdict is not None:
        expected = verdict.correction or (
            item.response if verdict.rating == "positive" and item.complete else ""
        )
    if llm.needs_reviewers(criterion, version.instructions) and not expected:
        return "no correction to compare with"
    if criterion in ("groundedness", "chunk_relevance") and not any(passages):
        return "no passage retrieved"
    if criterion != "chunk_relevance" and not item.response.strip():
        return "no answer"
    fields = {
        "request": item.request_text,
        "response": item.response,
        "context": "\n\n".join(passages),
        "expected": expected,
    }
    try:
        if criterion == "chunk_relevance":
            said = [llm.ask(version, criterion, **{**fields, "context": passage}) for passage in passages]
        else:
            said = [llm.ask(version, criterion, **fields)]
    except llm.JudgeCallError as exc:
        return Outcome(JudgeResult.Value.ERROR, None, str(exc), model=version.model)
    tokens = {
        name: sum(getattr(s, name) for s in said) if all(getattr(s, name) is not None for s in said) else None
        for name in ("input_tokens", "output_tokens")
    }
    if criterion == "chunk_relevance":
        score = sum(s.passed for s in said) / len(said)
        rationale = f"{sum(s.passed for s in said)} of {len(said)} passages relevant. " + " | ".join(
            f"{n}: {s.rationale}" for n, s in enumerate(said, 1)
        )
        rationale = f"{rationale} (passes at {_percent(version.threshold)})."
    else:
        score, rationale = float(said[0].passed), said[0].rationale
    value = JudgeResult.Value.PASS if score >= version.threshold else JudgeResult.Value.FAIL
    return Outcome(value, score, rationale, model=version.model, **tokens)


def _percent(score: float) -> str:
    return f"{score * 100:.0f}%"


def judge(version: JudgeVersion, item: Reviewed) -> Outcome | str:
    """What `version` says of `item`, or why it cannot judge it (a short reason, counted by runs)."""
    kind, metric = version.judge.kind, version.metric
    verdict = resolve(item, RULE)
    if kind == Judge.Kind.LLM:
        return _llm(version, item, verdict)
    if kind == "groundedness":
        grounding = metrics.GROUNDEDNESS[metric](item.response, [p.get("content", "") for p in item.passages])
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


def result_row(version: JudgeVersion, item: Reviewed, outcome: Outcome, **more) -> JudgeResult:
    """The stored form of what `version` said of `item` (unsaved; `more`: latency_ms, online)."""
    llm_judge = version.judge.kind == Judge.Kind.LLM
    return JudgeResult(
        version=version,
        request_id=item.request_id,
        app_id=version.judge.app_id,
        app_version=item.app_version,
        source_type=JudgeResult.SourceType.LLM_JUDGE if llm_judge else JudgeResult.SourceType.CODE,
        value=outcome.value,
        score=outcome.score,
        rationale=outcome.rationale,
        model=outcome.model,
        input_tokens=outcome.input_tokens,
        output_tokens=outcome.output_tokens,
        mlflow_status=mlflow_write.status_for(item.mlflow_trace_id, outcome.value),
        **more,
    )


def run(job: Job) -> dict:
    """The job's work: judge each selected request once with the version it names; a request this
    version already judged (an earlier run, a retried job) is left as it is, unless the judge
    model failed it then: that one is judged again."""
    version = JudgeVersion.objects.select_related("judge__app").get(pk=job.params["version"])
    app = version.judge.app
    calls_model = version.judge.kind == Judge.Kind.LLM
    filters = Filters.from_dict(job.params["filters"])
    total = job.params.get("selected")
    counts = {"judged": 0, "already_judged": 0, "skipped": 0, "errors": 0}
    reasons: dict[str, int] = {}
    batch: list[Reviewed] = []
    failing = {"in_a_row": 0, "last": ""}
    pool = ThreadPoolExecutor(LLM_CALLS_AT_ONCE) if calls_model else None

    def flush() -> None:
        earlier = dict(
            JudgeResult.objects.filter(
                version=version, request_id__in=[item.request_id for item in batch]
            ).values_list("request_id", "value")
        )
        earlier = {str(request_id): value for request_id, value in earlier.items()}
        todo = [item for item in batch if earlier.get(item.request_id) in (None, JudgeResult.Value.ERROR)]
        counts["already_judged"] += len(batch) - len(todo)

        def timed(item: Reviewed) -> tuple[Outcome | str, int]:
            started = time.perf_counter()
            outcome = judge(version, item)
            return outcome, round((time.perf_counter() - started) * 1000)

        rows = []
        for item, (outcome, latency_ms) in zip(todo, (pool.map if pool else map)(timed, todo), strict=True):
            if isinstance(outcome, str):
                counts["skipped"] += 1
                reasons[outcome] = reasons.get(outcome, 0) + 1
                continue
            if outcome.value == JudgeResult.Value.ERROR:
                counts["errors"] += 1
                failing["in_a_row"] += 1
                failing["last"] = outcome.rationale
            else:
                failing["in_a_row"] = 0
            rows.append(result_row(version, item, outcome, latency_ms=latency_ms))
        retried = [r.request_id for r in rows if earlier.get(r.request_id) == JudgeResult.Value.ERROR]
        with transaction.atomic():
            # An earlier error gives way to this run's result; verdicts themselves are never replaced.
            JudgeResult.objects.filter(
                version=version, request_id__in=retried, value=JudgeResult.Value.ERROR
            ).delete()
            JudgeResult.objects.bulk_create(rows, ignore_conflicts=True)
            mlflow_write.send_pending(version, [row.request_id for row in rows])
        counts["judged"] += sum(row.value != JudgeResult.Value.ERROR for row in rows)
        values = [row.value for row in rows]
        transaction.on_commit(
            lambda: counters.count_judge_results(
                app=app.slug, judge=version.judge.name, values=values, live=False
            )
        )
        batch.clear()
        job.report_progress(sum(counts.values()), total)
        if failing["in_a_row"] >= FAILING_IN_A_ROW:
            raise JudgeModelFailing(
                f"The judge model failed {failing['in_a_row']} requests in a row, so the run stopped "
                f"(the results so far are kept; a new run takes up the rest). Last: {failing['last']}"
            )

    try:
        for item in iter_reviewed(app=app, filters=filters):
            batch.append(item)
            if len(batch) >= (LLM_BATCH if calls_model else BATCH):
                flush()
        if batch:
            flush()
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
    return {**counts, "skipped_because": reasons, "judge": version.judge.name, "version": version.number}
