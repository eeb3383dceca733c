"""monitoring.stats against the formulas worked by hand."""

import math
from statistics import NormalDist

import pytest

from reviewapp.monitoring.stats import sample_size_per_group, two_proportion_test, wilson, wilson_many

Z = NormalDist().inv_cdf(0.975)  # 1.959964
Z_POWER = NormalDist().inv_cdf(0.8)  # 0.841621


def wilson_by_hand(hits, total):
    p = hits / total
    centre = (p + Z**2 / (2 * total)) / (1 + Z**2 / total)
    half = Z / (1 + Z**2 / total) * math.sqrt(p * (1 - p) / total + Z**2 / (4 * total**2))
    return centre - half, centre + half


@pytest.mark.parametrize(("hits", "total"), [(7, 10), (0, 10), (10, 10), (1, 1), (64, 100), (3, 1000)])
def test_the_wilson_interval_is_the_score_interval(hits, total):
    low, high = wilson(hits, total)
    assert (low, high) == pytest.approx(wilson_by_hand(hits, total), abs=1e-12)


def test_the_wilson_interval_of_7_in_10_to_four_places():
    low, high = wilson(7, 10)
    assert (round(low, 4), round(high, 4)) == (0.3968, 0.8922)


def test_no_interval_without_observations_and_many_at_once_agree():
    pairs = [(7, 10), (0, 0), (2, 4), (0, 3)]

    assert wilson(0, 0) is None
    assert wilson_many(pairs) == [wilson(*pair) for pair in pairs]
    assert wilson_many([]) == []


def test_the_two_proportion_z_test_by_hand():
    # 78 of 100 (B) against 64 of 100 (A): pooled 0.71, se = sqrt(0.71 * 0.29 * (1/100 + 1/100)).
    z = (0.78 - 0.64) / math.sqrt(0.71 * 0.29 * 0.02)
    p = math.erfc(z / math.sqrt(2))

    test = two_proportion_test(64, 100, 78, 100)
    assert test.z == pytest.approx(z) and test.z == pytest.approx(2.18165, abs=1e-5)
    assert test.p_value == pytest.approx(p) and test.p_value == pytest.approx(0.02914, abs=1e-5)
    reverse = two_proportion_test(78, 100, 64, 100)
    assert (reverse.z, reverse.p_value) == (pytest.approx(-z), pytest.approx(p))


def test_the_z_test_with_nothing_to_test():
    assert two_proportion_test(0, 0, 5, 10).p_value is None
    assert two_proportion_test(10, 10, 4, 4) == two_proportion_test(0, 10, 0, 4)
    assert (two_proportion_test(10, 10, 4, 4).z, two_proportion_test(10, 10, 4, 4).p_value) == (0.0, 1.0)


def _h(a, b):
    return abs(2 * math.asin(math.sqrt(b)) - 2 * math.asin(math.sqrt(a)))


@pytest.mark.parametrize(("a", "b"), [(0.64, 0.78), (0.5, 0.6), (0.9, 0.95), (0.2, 0.1)])
def test_the_sample_size_for_80_percent_power(a, b):
    # Each arcsine has variance 1 / n, so n = 2 ((z_0.975 + z_0.8) / h)^2 per group.
    by_hand = 2 * ((Z + Z_POWER) / _h(a, b)) ** 2
    assert sample_size_per_group(a, b) in (math.ceil(by_hand), math.ceil(by_hand) + 1)
    assert sample_size_per_group(0.64, 0.78) == 163


def test_a_huge_difference_needs_only_a_few_and_none_none():
    # h = pi: power at n per group is Phi(pi sqrt(n / 2) - z) + Phi(-pi sqrt(n / 2) - z).
    def power(n):
        shift = math.pi * math.sqrt(n / 2)
        return NormalDist().cdf(shift - Z) + NormalDist().cdf(-shift - Z)

    assert power(1) < 0.8 <= power(2)
    assert sample_size_per_group(0.0, 1.0) == 2
    assert sample_size_per_group(0.4, 0.4) is None
