"""Tuning an LLM judge with the reviewers' examples, measured on items the tuning never saw.

The reviewers' labelled requests for the judge's criterion (the judge-examples export's rows) are
split by conversation, so no request and no conversation is both an example and an evaluation
item. The next version carries up to MAX_EXAMPLES examples from one side, balanced between pass
and fail; both versions then judge the other side (the held-out items), and the agreement of each
with the reviewers is measured there, side by side.

Refused below MIN_REVIEWER_KAPPA of agreement between the reviewers themselves on the same items
(unless overridden): examples the experts disagree on would teach the judge noise.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

from reviewapp.exports.rows import Example, resolve
from reviewapp.exports.selection import Filters, iter_reviewed
from reviewapp.jobs.models import Job
from reviewapp.queues.agreement import agreement as reviewer_agreement

from . import mlflow_write
from .agreement import agreement, reviewers_example
from .metrics import criterion as judged_against
from .models import JudgeResult, JudgeVersion
from .runs import RULE, Outcome, judge, result_row

MAX_EXAMPLES = 8
# The criteria whose reviewers' labels are whole-request examples (chunk relevance's are per passage).
TUNABLE = ("correctness", "relevance_to_query", "groundedness")
EXAMPLE_SHARE = 0.5  # of the conversations, the side the examples come from
MIN_REVIEWER_KAPPA = 0.4
MIN_HELD_OUT = 2


@dataclass
class Labelled:
    example: Example
    group: str  # the conversation, or the request when it has none


def labelled_items(version: JudgeVersion, criterion: str) -> list[Labelled]:
    """The app's reviewed requests with the reviewers' label for `criterion` (majority rule)."""
    found = []
    for item in iter_reviewed(app=version.judge.app, filters=Filters()):
        verdict = resolve(item, RULE)
        if verdict is None:
            continue
        if (example := reviewers_example(item, verdict, criterion)) is not None:
            found.append(Labelled(example, item.conversation_id or f"request:{item.request_id}"))
    return found


def reviewers_kappa(version: JudgeVersion, criterion: str):
    """How far the reviewers agree with one another on the criterion, on the items two or more of
    them labelled (each reviewer's own label, as the export would give it for them alone)."""
    ratings: dict[str, dict[str, str]] = {}
    for item in iter_reviewed(app=version.judge.app, filters=Filters()):
        for assessment in item.assessments:
            alone = dataclasses.replace(item, assessments=[assessment])
            verdict = resolve(alone, "latest")
            if verdict is None:
                continue
            example = reviewers_example(alone, verdict, criterion)
            label = None if example is None else example.value
            if label is not None:
                ratings.setdefault(item.request_id, {})[assessment["source_id"]] = "pass" if label else "fail"
    return reviewer_agreement(ratings)


def _order(judge_id: int, group: str) -> bytes:
    return hashlib.sha256(f"{judge_id}/{group}".encode()).digest()


def split(judge_id: int, items: list[Labelled]) -> tuple[list[Labelled], list[Labelled]]:
    """(examples, held out). The conversations, shuffled by a hash of (judge, conversation) so the
    same data splits the same way, go one half to each side, so every request of a conversation
    goes one way; the examples, balanced between pass and fail and at most MAX_EXAMPLES, come from
    the first side, and every item of the other side is held out."""
    groups = sorted({i.group for i in items}, key=lambda group: _order(judge_id, group))
    first = set(groups[: max(1, round(len(groups) * EXAMPLE_SHARE))]) if len(groups) > 1 else set()
    pool = [i for i in items if i.group in first]
    held_out = [i for i in items if i.group not in first]
    passes = [i for i in pool if i.example.value]
    fails = [i for i in pool if not i.example.value]
    examples: list[Labelled] = []
    while (passes or fails) and len(examples) < MAX_EXAMPLES:
        for side in (fails, passes):  # the fails first: what the judge must learn to catch
            if side and len(examples) < MAX_EXAMPLES:
                examples.append(side.pop(0))
    return examples, held_out


def as_examples(chosen: list[Labelled]) -> list[dict]:
    return [
        {
            "fields": c.example.fields,
            "value": c.example.value,
            "rationale": c.example.rationale,
            "request_id": c.example.request_id,
        }
        for c in chosen
    ]


def measure_on(version: JudgeVersion, request_ids: list[str], job: Job | None = None, done: int = 0) -> dict:
    """Judge the held-out requests with `version` (those it judged already are kept), then its
    agreement with the reviewers on them."""
    judged = {
        str(r)
        for r in JudgeResult.objects.filter(version=version, request_id__in=request_ids)
        .exclude(value=JudgeResult.Value.ERROR)
        .values_list("request_id", flat=True)
    }
    todo = [r for r in request_ids if r not in judged]
    app = version.judge.app
    for start in range(0, len(todo), 20):
        ids = todo[start : start + 20]
        rows = []
        for item in iter_reviewed(app=app, filters=Filters(request_ids=tuple(ids))):
            outcome = judge(version, item)
            if isinstance(outcome, Outcome):
                rows.append(result_row(version, item, outcome))
        JudgeResult.objects.filter(
            version=version, request_id__in=ids, value=JudgeResult.Value.ERROR
        ).delete()
        JudgeResult.objects.bulk_create(rows, ignore_conflicts=True)
        mlflow_write.send_pending(version, ids)
        if job is not None:
            job.report_progress(done + start + len(ids))
    measured = agreement(version, request_ids=set(request_ids))
    return {
        "version": version.number,
        "compared": measured.compared,
        "kappa": measured.kappa,
        "accuracy": measured.accuracy,
        "precision": measured.precision,
        "recall": measured.recall,
        "confusion": measured.cells,
    }


def run(job: Job) -> dict:
    """The job: the tuned version's examples were chosen when it was started (services.start_tuning);
    here both versions judge the held-out items and are measured there."""
    before = JudgeVersion.objects.select_related("judge__app").get(pk=job.params["before"])
    after = JudgeVersion.objects.select_related("judge__app").get(pk=job.params["after"])
    held_out = list(after.held_out)
    job.report_progress(0, 2 * len(held_out))
    measured_before = measure_on(before, held_out, job)
    measured_after = measure_on(after, held_out, job, done=len(held_out))
    return {
        "judge": after.judge.name,
        "criterion": judged_against(after.judge.kind, after.metric),
        "examples": len(after.examples),
        "held_out": len(held_out),
        "before": measured_before,
        "after": measured_after,
    }
