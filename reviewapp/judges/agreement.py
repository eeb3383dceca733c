"""How far a judge version agrees with the reviewers, on the requests both judged.

The reviewers' label for a criterion is the one the judge-examples export gives that judge
(exports.rows.judge_examples: thumbs and the correction for correctness, thumbs and a "not
grounded" reason for groundedness; for chunk relevance, whether the share of the passages they
rated relevant reaches the judge's threshold), after the majority rule; a request they did not
label for it is left out. "Fail" is the class looked for: precision and recall are the judge's fails against
the reviewers' negatives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from reviewapp.exports.rows import judge_examples, resolve
from reviewapp.exports.selection import Filters, iter_reviewed

from .metrics import criterion as judged_against
from .models import JudgeResult, JudgeVersion
from .runs import RULE

BATCH = 500
LISTED = 100  # request ids listed per cell of the confusion matrix


@dataclass
class Agreement:
    version: int
    criterion: str | None
    compared: int = 0  # requests with both a judge result and a reviewers' label
    judged: int = 0  # requests the version judged
    # cells[human][judge] → count, human and judge each "pass" or "fail"
    cells: dict[str, dict[str, int]] = field(
        default_factory=lambda: {"pass": {"pass": 0, "fail": 0}, "fail": {"pass": 0, "fail": 0}}
    )
    items: dict[str, dict[str, list[str]]] = field(
        default_factory=lambda: {"pass": {"pass": [], "fail": []}, "fail": {"pass": [], "fail": []}}
    )
    accuracy: float | None = None
    kappa: float | None = None
    precision: float | None = None  # of the judge's fails, the share the reviewers failed too
    recall: float | None = None  # of the reviewers' fails, the share the judge failed too
    disagreements: list[str] = field(default_factory=list)  # request ids, the judge's fails first
    note: str = ""


def reviewers_example(item, verdict, criterion: str):
    """The reviewers' label of `item` for `criterion`, as the judge-examples export gives it (an
    Example), or None when they gave none."""
    return next(
        (e for e in judge_examples(item, verdict) if e.judge == criterion and e.chunk_position is None), None
    )


def _ratio(hits: int, total: int) -> float | None:
    return hits / total if total else None


def agreement(version: JudgeVersion, request_ids: set[str] | None = None) -> Agreement:
    """The version's agreement with the reviewers on the requests it judged (of `request_ids`
    only, when given); an error is no verdict, so it is left out."""
    criterion = judged_against(version.judge.kind, version.metric)
    answer = Agreement(version=version.number, criterion=criterion)
    results = JudgeResult.objects.filter(version=version).exclude(value=JudgeResult.Value.ERROR)
    said = {
        str(request_id): value
        for request_id, value in results.values_list("request_id", "value")
        if request_ids is None or str(request_id) in request_ids
    }
    answer.judged = len(said)
    if criterion is None:
        answer.note = (
            "A retrieval metric is computed from the reviewers' own chunk ratings: nothing to agree on."
            if version.judge.kind == "retrieval"
            else f"The reviewers give no label for {version.metric}: there is nothing to compare with."
        )
        return answer
    app = version.judge.app
    pairs: list[tuple[str, str, str]] = []  # (request id, human, judge)
    ids = sorted(said)
    for start in range(0, len(ids), BATCH):
        filters = Filters(request_ids=tuple(ids[start : start + BATCH]))
        for item in iter_reviewed(app=app, filters=filters):
            verdict = resolve(item, RULE)
            if verdict is None:
                continue
            if criterion == "chunk_relevance":
                # The share of the passages they rated that they found relevant, at the judge's bar.
                rated = list(verdict.relevant.values())
                label = sum(rated) / len(rated) >= version.threshold if rated else None
            else:
                example = reviewers_example(item, verdict, criterion)
                label = None if example is None else example.value
            if label is not None:
                pairs.append((item.request_id, "pass" if label else "fail", said[item.request_id]))
    answer.compared = len(pairs)
    if not pairs:
        answer.note = "No request has both a result of this version and the reviewers' label for it yet."
        return answer
    for request_id, human, judged in pairs:
        answer.cells[human][judged] += 1
        if len(answer.items[human][judged]) < LISTED:
            answer.items[human][judged].append(request_id)
    agree = answer.cells["pass"]["pass"] + answer.cells["fail"]["fail"]
    answer.accuracy = agree / len(pairs)
    answer.precision = _ratio(
        answer.cells["fail"]["fail"], answer.cells["fail"]["fail"] + answer.cells["pass"]["fail"]
    )
    answer.recall = _ratio(
        answer.cells["fail"]["fail"], answer.cells["fail"]["fail"] + answer.cells["fail"]["pass"]
    )
    humans, judges = [h for _, h, _ in pairs], [j for _, _, j in pairs]
    if len(set(humans) | set(judges)) > 1:
        # Imported here: scikit-learn (with numpy, scipy, pandas) costs seconds and ~70 MB at start-up.
        from sklearn.metrics import cohen_kappa_score

        kappa = cohen_kappa_score(humans, judges, labels=["pass", "fail"])
        answer.kappa = None if math.isnan(kappa) else float(kappa)
    # The judge's fails the reviewers passed first (a judge too strict), then its misses.
    answer.disagreements = [r for r, h, j in pairs if h == "pass" and j == "fail"] + [
        r for r, h, j in pairs if h == "fail" and j == "pass"
    ]
    return answer
