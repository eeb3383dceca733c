"""Win rate per version with its 95% Wilson score interval; ties reported apart; a reviewer's pick
of what they saw as A or B is mapped back to the versions."""

import pytest

from reviewapp.comparisons import services
from reviewapp.comparisons.models import PairOrder, Preference
from reviewapp.comparisons.results import comparison_result, majority
from reviewapp.queues import claims
from reviewapp.queues.models import Reservation
from tests.comparisons.helpers import VERSION_A, VERSION_B, imported_queue, judge
from tests.conftest import client_for

# 12 pairs: version A wins 7, loses 3, 2 ties.
PICKS = ["a", "a", "b", "a", "tie", "a", "b", "a", "a", "tie", "b", "a"]


@pytest.fixture
def judged(app, querier):
    queue, comparison = imported_queue(app, [(f"Question {i}", f"A{i}", f"B{i}") for i in range(12)])
    judge(queue, querier, PICKS)
    return queue, comparison


def test_win_rates_and_wilson_intervals_are_exact_for_a_known_count(judged):
    _queue, comparison = judged
    result = comparison_result(comparison)
    assert (result.pairs, result.ready, result.judgements) == (12, 12, 12)
    a, b = result.versions
    assert (a.version, a.wins, a.losses, a.ties, a.win_rate) == (VERSION_A, 7, 3, 2, 0.7)
    assert (b.version, b.wins, b.losses, b.ties, b.win_rate) == (VERSION_B, 3, 7, 2, 0.3)
    # Wilson, z = 1.959964: 7 of 10 → (0.396778, 0.892209); 3 of 10 → (0.107791, 0.603222).
    assert (round(a.low, 6), round(a.high, 6)) == (0.396778, 0.892209)
    assert (round(b.low, 6), round(b.high, 6)) == (0.107791, 0.603222)


def test_the_api_the_queue_page_and_the_dashboard_show_the_same_figures(app, manager, judged):
    queue, _ = judged
    client = client_for(manager)
    body = client.get(f"/api/v1/apps/{app.slug}/review-queues/{queue.pk}/comparison").json()
    assert [
        (
            v["version"],
            v["wins"],
            v["losses"],
            v["ties"],
            v["win_rate"],
            round(v["low"], 6),
            round(v["high"], 6),
        )
        for v in body["versions"]
    ] == [(VERSION_A, 7, 3, 2, 0.7, 0.396778, 0.892209), (VERSION_B, 3, 7, 2, 0.3, 0.107791, 0.603222)]
    assert (body["kind"], body["pairs"], body["ready"], body["pending"], body["failed"]) == (
        "imported",
        12,
        12,
        0,
        0,
    )
    for url in (f"/apps/{app.slug}/queues/{queue.pk}/", f"/apps/{app.slug}/dashboard/"):
        html = client.get(url).content.decode()
        assert f'data-version="{VERSION_A}"' in html, url
        assert "0.700" in html and "0.397 – 0.892" in html and "0.108 – 0.603" in html, url


def test_a_pick_of_what_was_shown_as_a_is_stored_as_the_version_shown_there(app, querier):
    queue, comparison = imported_queue(app, [("Q1", "A1", "B1"), ("Q2", "A2", "B2")])
    first, second = queue.items.order_by("position")
    for item, swapped in ((first, True), (second, False)):
        claims.claim_item(item=item, reviewer=querier)
        PairOrder.objects.create(pair=item.pair, reviewer=querier, swapped=swapped)
        services.record_preference(item=item, reviewer=querier, choice="a", reasons=["clearer"], comment="ok")
    assert list(Preference.objects.order_by("id").values_list("winner", "swapped", "reasons", "comment")) == [
        ("b", True, ["clearer"], "ok"),
        ("a", False, ["clearer"], "ok"),
    ]
    # Submitting marks the item done for the reviewer, as any queue's review does.
    assert Reservation.objects.done().filter(reviewer=querier).count() == 2


def test_a_changed_mind_counts_once_its_latest_pick(app, querier):
    queue, comparison = imported_queue(app, [("Q1", "A1", "B1")])
    judge(queue, querier, ["a"])
    judge(queue, querier, ["b"])
    a, b = comparison_result(comparison).versions
    assert (a.wins, a.losses, b.wins, b.losses) == (0, 1, 1, 0)
    assert Preference.objects.count() == 2


def test_majority_needs_more_votes_than_any_other_label():
    assert majority(["a", "a", "b"]) == "a"
    assert majority(["b", "b", "tie"]) == "b"
    assert majority(["tie", "tie", "a"]) == "tie"
    assert majority(["a", "b", "tie"]) is None
    assert majority(["a", "b"]) is None
    assert majority([]) is None
