"""Dawid–Skene as a pure function: a hand-checked step, smoothing, and a simulated careless reviewer."""

import random

import pytest

from reviewapp.reliability.dawid_skene import dawid_skene

# Items 1 and 2: all three agree; items 3 and 4: C alone disagrees with A and B.
SMALL = [
    (1, "A", "+"), (1, "B", "+"), (1, "C", "+"),
    (2, "A", "-"), (2, "B", "-"), (2, "C", "-"),
    (3, "A", "+"), (3, "B", "+"), (3, "C", "-"),
    (4, "A", "-"), (4, "B", "-"), (4, "C", "+"),
]  # fmt: skip


def test_one_step_matches_the_hand_computation():
    # By hand, smoothing 1. Start (vote shares): P(+) = 1, 0, 2/3, 1/3 for items 1..4.
    # M-step: prior(+) = (1 + 0 + 2/3 + 1/3 + 1) / (4 + 2) = 1/2.
    #   A (and B) when the truth is +: said + with weight 1 + 2/3, said - with 1/3 →
    #   ((5/3 + 1) / (2 + 2), (1/3 + 1) / 4) = (2/3, 1/3); by symmetry the same when it is -.
    #   C when it is +: said + with 1 + 1/3, said - with 2/3 → ((4/3+1)/4, (2/3+1)/4) = (7/12, 5/12).
    # E-step, item 3 (A+, B+, C-): + ∝ 1/2 · 2/3 · 2/3 · 5/12 = 20/216, - ∝ 1/2 · 1/3 · 1/3 · 7/12 = 7/216
    #   → P(+) = 20/27. Item 1 (all +): + ∝ 2/3 · 2/3 · 7/12 = 28/108, - ∝ 1/3 · 1/3 · 5/12 = 5/108 → 28/33.
    # Accuracy = Σ prior · diagonal: A 2/3, C 7/12; reliability = diagonal mean rescaled: A 1/3, C 1/6.
    estimate = dawid_skene(SMALL, max_iter=1)

    assert estimate.priors == pytest.approx({"+": 1 / 2, "-": 1 / 2})
    assert estimate.reviewers["A"].confusion["+"] == pytest.approx({"+": 2 / 3, "-": 1 / 3})
    assert estimate.reviewers["A"].confusion["-"] == pytest.approx({"+": 1 / 3, "-": 2 / 3})
    assert estimate.reviewers["C"].confusion["+"] == pytest.approx({"+": 7 / 12, "-": 5 / 12})
    assert estimate.posteriors[3]["+"] == pytest.approx(20 / 27)
    assert estimate.posteriors[1]["+"] == pytest.approx(28 / 33)
    assert estimate.posteriors[4]["-"] == pytest.approx(20 / 27)
    assert [estimate.reviewers[r].accuracy for r in "ABC"] == pytest.approx([2 / 3, 2 / 3, 7 / 12])
    assert [estimate.reviewers[r].reliability for r in "ABC"] == pytest.approx([1 / 3, 1 / 3, 1 / 6])
    assert [estimate.reviewers[r].labels for r in "ABC"] == [4, 4, 4]
    assert estimate.iterations == 1


def test_smoothing_keeps_a_one_item_reviewer_away_from_certainty():
    labels = [(1, "A", "+"), (1, "B", "+"), (2, "A", "-"), (2, "B", "-"), (1, "once", "+")]

    once = dawid_skene(labels).reviewers["once"]

    assert 0.5 < once.accuracy < 1
    assert once.labels == 1
    assert all(0 < p < 1 for row in once.confusion.values() for p in row.values())


def test_no_labels_give_an_empty_estimate():
    estimate = dawid_skene([], classes=["negative", "positive"])

    assert estimate.reviewers == {} and estimate.posteriors == {}
    assert estimate.priors == {"negative": 0.5, "positive": 0.5}


def simulated(seed=7, items=200, careless="r4"):
    """5 reviewers, each item labelled by 3 of them; r0..r3 right 90% of the time, `careless` at random."""
    rng = random.Random(seed)
    reviewers = [f"r{i}" for i in range(5)]
    truth, labels = {}, []
    for item in range(items):
        truth[item] = "positive" if rng.random() < 0.6 else "negative"
        for reviewer in rng.sample(reviewers, 3):
            if reviewer == careless:
                said = rng.choice(["positive", "negative"])
            elif rng.random() < 0.9:
                said = truth[item]
            else:
                said = "negative" if truth[item] == "positive" else "positive"
            labels.append((item, reviewer, said))
    return truth, labels


def test_a_careless_reviewer_comes_out_least_reliable():
    truth, labels = simulated()

    estimate = dawid_skene(labels)
    reliability = {r: e.reliability for r, e in estimate.reviewers.items()}

    assert min(reliability, key=reliability.get) == "r4"
    # Random labels: no better than chance (0 ± the noise of ~120 labels); the others near 0.8
    # (a 90% reviewer's sensitivity + specificity - 1, give or take that noise).
    assert abs(reliability["r4"]) < 0.25
    assert all(0.55 < reliability[r] < 0.95 for r in ("r0", "r1", "r2", "r3"))
    assert estimate.priors["positive"] == pytest.approx(0.6, abs=0.08)
    # The posteriors recover the truth at least as well as the plain majority vote.
    by_item: dict = {}
    for item, _, said in labels:
        by_item.setdefault(item, []).append(said)
    majority = {i: max(set(s), key=s.count) for i, s in by_item.items()}
    posterior = {i: max(p, key=p.get) for i, p in estimate.posteriors.items()}
    right = sum(posterior[i] == truth[i] for i in truth)
    assert right >= sum(majority[i] == truth[i] for i in truth)
    assert right >= 175  # 180 with this seed; a 90% reviewer alone would get about 180


def test_the_careless_reviewer_is_found_whichever_reviewer_it_is():
    for careless in ("r0", "r2"):
        _, labels = simulated(seed=11, careless=careless)
        estimate = dawid_skene(labels)
        assert min(estimate.reviewers, key=lambda r: estimate.reviewers[r].reliability) == careless
