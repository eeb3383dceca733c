"""Agreement statistics on cases worked out by hand."""

import pytest

from reviewapp.queues.agreement import COHEN_KAPPA, KRIPPENDORFF_ALPHA, agreement, disagreements


def test_two_reviewers_get_cohens_kappa_as_computed_by_hand():
    # a and b agree on 8 of 10 (p_o = 0.8); each says "positive" 6 times (p_e = .6² + .4² = 0.52).
    a = ["positive"] * 6 + ["negative"] * 4
    b = ["positive"] * 5 + ["negative"] * 4 + ["positive"]
    ratings = {f"item{i}": {"a": x, "b": y} for i, (x, y) in enumerate(zip(a, b, strict=True))}

    result = agreement(ratings)

    assert result.metric == COHEN_KAPPA
    assert result.value == pytest.approx((0.8 - 0.52) / (1 - 0.52))
    assert (result.units, result.raters) == (10, 2)


def test_three_reviewers_get_krippendorffs_alpha_as_computed_by_hand():
    # Coincidences: o_pp = 4, o_nn = 5, o_pn = o_np = 1; n_p = 5, n_n = 6, n = 11.
    # alpha = 1 - (n - 1) * (o_pn + o_np) / (2 * n_p * n_n) = 1 - 10 * 2 / 60 = 2/3.
    ratings = {
        "u1": {"a": "positive", "b": "positive", "c": "positive"},
        "u2": {"a": "positive", "b": "positive", "c": "negative"},
        "u3": {"a": "negative", "b": "negative", "c": "negative"},
        "u4": {"a": "negative", "b": "negative"},
    }

    result = agreement(ratings)

    assert result.metric == KRIPPENDORFF_ALPHA
    assert result.value == pytest.approx(2 / 3)
    assert (result.units, result.raters) == (4, 3)


def test_units_with_a_single_review_are_left_out():
    ratings = {
        "both": {"a": "positive", "b": "negative"},
        "both2": {"a": "negative", "b": "negative"},
        "alone": {"a": "positive"},
    }

    result = agreement(ratings)

    assert result.units == 2
    # p_o = 1/2; a: 1 pos 1 neg, b: 0 pos 2 neg → p_e = .5*0 + .5*1 = .5 → kappa 0.
    assert result.value == pytest.approx(0.0)


def test_full_agreement_on_a_single_label_is_reported_as_undefined_not_as_a_number():
    result = agreement({"x": {"a": "positive", "b": "positive"}, "y": {"a": "positive", "b": "positive"}})

    assert result.value is None
    assert "positive" in result.note


def test_no_overlap_gives_no_statistic():
    result = agreement({"x": {"a": "positive"}, "y": {"b": "negative"}})

    assert (result.metric, result.value, result.units) == ("", None, 0)


def test_disagreements_are_sorted_by_the_share_of_reviewer_pairs_that_disagree():
    reviews = {
        # thumbs 1/1 pairs disagree, chunk 0 agrees, chunk 1 disagrees → 2 of 3 pairs.
        "X": {
            "a": {"rating": "positive", "chunks": {0: "relevant", 1: "relevant"}},
            "b": {"rating": "negative", "chunks": {0: "relevant", 1: "not_relevant"}},
        },
        # thumbs: 2 of 3 pairs disagree; chunk 0: 0 of 3 → 2 of 6.
        "Y": {
            "a": {"rating": "positive", "chunks": {0: "relevant"}},
            "b": {"rating": "negative", "chunks": {0: "relevant"}},
            "c": {"rating": "negative", "chunks": {0: "relevant"}},
        },
        "Z": {"a": {"rating": "positive", "chunks": {}}, "b": {"rating": "positive", "chunks": {}}},
    }

    found = disagreements(reviews)

    assert [d.item for d in found] == ["X", "Y"]
    assert found[0].score == pytest.approx(2 / 3)
    assert found[1].score == pytest.approx(1 / 3)
    assert found[0].chunks == {1: {"a": "relevant", "b": "not_relevant"}}
    assert found[1].rating == {"a": "positive", "b": "negative", "c": "negative"}
