"""Dawid–Skene: how reliable each reviewer is, learnt from items several of them labelled.

Each reviewer has a confusion matrix (given the true label k, the chance they say l) and the labels
have class priors; EM alternates between the items' posterior true labels (E) and the priors and
matrices that explain them best (M). It starts from the majority vote. Every count gets
`smoothing` added (a Dirichlet prior), so a reviewer seen on one item is not certain to be right
or wrong. Pure: labels in, estimates out; no database.

Dawid, A. P. and Skene, A. M. (1979), "Maximum likelihood estimation of observer error-rates
using the EM algorithm", Applied Statistics 28(1).
"""

from collections.abc import Hashable, Iterable
from dataclasses import dataclass

import numpy as np


@dataclass
class ReviewerEstimate:
    # confusion[true][said]: the chance this reviewer says `said` when the answer is `true`.
    confusion: dict[str, dict[str, float]]
    # The chance they give the true label, over the class priors.
    accuracy: float
    # Their mean per-class recall rescaled so that chance is 0 and always right is 1 (for two
    # classes: sensitivity + specificity - 1); below 0 is worse than chance.
    reliability: float
    labels: int


@dataclass
class Estimate:
    classes: list[str]
    priors: dict[str, float]
    reviewers: dict[Hashable, ReviewerEstimate]
    # {item: {class: posterior probability}}
    posteriors: dict[Hashable, dict[str, float]]
    iterations: int


def dawid_skene(
    labels: Iterable[tuple[Hashable, Hashable, str]],
    *,
    classes: Iterable[str] | None = None,
    smoothing: float = 1.0,
    max_iter: int = 200,
    tol: float = 1e-8,
) -> Estimate:
    """Estimates from (item, reviewer, label) triples; a reviewer's second label on an item is ignored.

    `max_iter` counts M-then-E steps after the majority-vote start (max_iter=1 is one of each).
    """
    seen: dict[tuple, str] = {}
    for item, reviewer, label in labels:
        seen.setdefault((item, reviewer), str(label))
    names = sorted({str(c) for c in classes} if classes is not None else set(seen.values()))
    names += sorted(set(seen.values()) - set(names))
    items = list(dict.fromkeys(item for item, _ in seen))
    reviewers = list(dict.fromkeys(reviewer for _, reviewer in seen))
    if not seen:
        return Estimate(names, {c: 1 / len(names) for c in names} if names else {}, {}, {}, 0)
    item_at = {item: i for i, item in enumerate(items)}
    reviewer_at = {reviewer: j for j, reviewer in enumerate(reviewers)}
    class_at = {c: k for k, c in enumerate(names)}
    i_idx = np.array([item_at[i] for i, _ in seen])
    j_idx = np.array([reviewer_at[r] for _, r in seen])
    l_idx = np.array([class_at[label] for label in seen.values()])
    n_items, n_reviewers, n_classes = len(items), len(reviewers), len(names)

    # The start: each item's share of votes per class (the soft majority vote).
    posterior = np.zeros((n_items, n_classes))
    np.add.at(posterior, (i_idx, l_idx), 1.0)
    posterior /= posterior.sum(axis=1, keepdims=True)

    # The priors and matrices reported are those the final posteriors were computed from.
    iterations = 0
    while iterations < max(max_iter, 1):
        iterations += 1
        priors, confusion = _m_step(posterior, i_idx, j_idx, l_idx, n_reviewers, smoothing)
        updated = _e_step(priors, confusion, i_idx, j_idx, l_idx, n_items)
        change = np.abs(updated - posterior).max()
        posterior = updated
        if change < tol:
            break
    counts = np.bincount(j_idx, minlength=n_reviewers)
    estimates = {}
    for j, reviewer in enumerate(reviewers):
        diagonal = np.diag(confusion[j])
        chance = 1 / n_classes
        reliability = (diagonal.mean() - chance) / (1 - chance) if n_classes > 1 else 1.0
        estimates[reviewer] = ReviewerEstimate(
            confusion={
                names[k]: {names[m]: float(confusion[j, k, m]) for m in range(n_classes)}
                for k in range(n_classes)
            },
            accuracy=float((priors * diagonal).sum()),
            reliability=float(reliability),
            labels=int(counts[j]),
        )
    return Estimate(
        classes=names,
        priors={names[k]: float(priors[k]) for k in range(n_classes)},
        reviewers=estimates,
        posteriors={
            item: {names[k]: float(posterior[i, k]) for k in range(n_classes)} for i, item in enumerate(items)
        },
        iterations=iterations,
    )


def _m_step(posterior, i_idx, j_idx, l_idx, n_reviewers, smoothing):
    n_items, n_classes = posterior.shape
    priors = (posterior.sum(axis=0) + smoothing) / (n_items + smoothing * n_classes)
    counts = np.full((n_reviewers, n_classes, n_classes), float(smoothing))
    # counts[j, k, l] += P(item i is k) for each label l reviewer j gave item i.
    for k in range(n_classes):
        np.add.at(counts[:, k, :], (j_idx, l_idx), posterior[i_idx, k])
    confusion = counts / counts.sum(axis=2, keepdims=True)
    return priors, confusion


def _e_step(priors, confusion, i_idx, j_idx, l_idx, n_items):
    log_post = np.tile(np.log(priors), (n_items, 1))
    np.add.at(log_post, i_idx, np.log(confusion[j_idx, :, l_idx]))
    log_post -= log_post.max(axis=1, keepdims=True)
    posterior = np.exp(log_post)
    return posterior / posterior.sum(axis=1, keepdims=True)
