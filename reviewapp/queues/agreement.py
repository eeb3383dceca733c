"""Agreement between reviewers: pure functions over plain dicts, no database.

`ratings` maps a unit (an item, or an (item, chunk position) pair) to {reviewer: label}.
Only units with at least two labels tell anything about agreement; the others are ignored.
Two reviewers in all → Cohen's kappa; more → Krippendorff's alpha (nominal), which also
copes with reviewers who each rated a different subset of the items.
"""

import math
from collections import Counter
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field

COHEN_KAPPA = "Cohen's kappa"
KRIPPENDORFF_ALPHA = "Krippendorff's alpha"

Ratings = Mapping[Hashable, Mapping[Hashable, str]]


@dataclass
class Agreement:
    metric: str  # COHEN_KAPPA, KRIPPENDORFF_ALPHA, or "" when there is nothing to compare
    value: float | None  # None when undefined (no overlap, or a single label throughout)
    units: int  # units with at least two labels
    raters: int
    note: str = ""


def agreement(ratings: Ratings) -> Agreement:
    units = {unit: labels for unit, labels in ratings.items() if len(labels) >= 2}
    raters = sorted({reviewer for labels in units.values() for reviewer in labels}, key=str)
    if not units:
        return Agreement("", None, 0, len(raters), "no item has two reviews yet")
    values = sorted({label for labels in units.values() for label in labels.values()})
    metric = COHEN_KAPPA if len(raters) == 2 else KRIPPENDORFF_ALPHA
    if len(values) == 1:
        # Chance agreement is total, so both statistics divide by zero.
        return Agreement(
            metric, None, len(units), len(raters), f"every review said {str(values[0]).replace('_', ' ')}"
        )
    # Imported here: scikit-learn and krippendorff cost seconds at web start-up.
    if metric == COHEN_KAPPA:
        from sklearn.metrics import cohen_kappa_score

        first, second = raters
        value = cohen_kappa_score(
            [labels[first] for labels in units.values()], [labels[second] for labels in units.values()]
        )
    else:
        import krippendorff
        import numpy as np

        codes = {label: index for index, label in enumerate(values)}
        matrix = np.full((len(raters), len(units)), np.nan)
        for column, labels in enumerate(units.values()):
            for row, reviewer in enumerate(raters):
                if reviewer in labels:
                    matrix[row, column] = codes[labels[reviewer]]
        value = krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")
    value = float(value)
    if math.isnan(value):
        return Agreement(metric, None, len(units), len(raters), "undefined for these ratings")
    return Agreement(metric, value, len(units), len(raters))


def _disagreeing_pairs(labels: list[str]) -> tuple[int, int]:
    """(pairs of reviewers who gave different labels, all pairs) for one unit."""
    n = len(labels)
    pairs = n * (n - 1) // 2
    same = sum(c * (c - 1) // 2 for c in Counter(labels).values())
    return pairs - same, pairs


@dataclass
class Disagreement:
    item: Hashable
    score: float  # share of compared reviewer pairs that disagree, over thumbs and chunks
    rating: dict = field(default_factory=dict)  # {reviewer: label} when the thumbs differ
    chunks: dict = field(default_factory=dict)  # {position: {reviewer: label}} for disputed chunks


def disagreements(reviews: Mapping[Hashable, Mapping[Hashable, dict]]) -> list[Disagreement]:
    """Items where reviewers disagree, most disputed first.

    `reviews` maps item → reviewer → {"rating": label or "", "chunks": {position: label}}.
    """
    found = []
    for item, by_reviewer in reviews.items():
        rating = {r: v["rating"] for r, v in by_reviewer.items() if v.get("rating")}
        chunk_labels: dict = {}
        for reviewer, review in by_reviewer.items():
            for position, label in (review.get("chunks") or {}).items():
                chunk_labels.setdefault(position, {})[reviewer] = label
        disagree = compared = 0
        d, p = _disagreeing_pairs(list(rating.values()))
        disagree, compared = disagree + d, compared + p
        disputed = {}
        for position, labels in chunk_labels.items():
            d, p = _disagreeing_pairs(list(labels.values()))
            disagree, compared = disagree + d, compared + p
            if d:
                disputed[position] = labels
        if disagree:
            found.append(
                Disagreement(
                    item=item,
                    score=disagree / compared,
                    rating=rating if len(set(rating.values())) > 1 else {},
                    chunks=dict(sorted(disputed.items())),
                )
            )
    found.sort(key=lambda d: (-d.score, -len(d.chunks), str(d.item)))
    return found
