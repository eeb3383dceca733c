"""A keyboard-only pairwise review in a real browser: b, a and t on three pairs, and the picks are
stored in the pairs' own terms, whatever order each was shown in."""

import pytest
from playwright.sync_api import expect

from reviewapp.comparisons.models import PairOrder, Preference
from reviewapp.comparisons.results import comparison_result
from tests.browser_checks import serious_violations, watch_hosts
from tests.comparisons.helpers import VERSION_A, VERSION_B, imported_queue

pytestmark = pytest.mark.browser


def test_a_reviewer_picks_b_then_a_then_tie_with_the_keyboard_only(app, querier, page_for, live_server):
    queue, comparison = imported_queue(
        app, [(f"Question {n}", f"Answer {n} of A", f"Answer {n} of B") for n in (1, 2, 3)]
    )
    page = page_for(querier)
    elsewhere = watch_hosts(page, live_server.url)
    page.goto(f"/queues/{queue.pk}/review/")
    expect(page.get_by_test_id("start-review")).to_be_focused()
    page.keyboard.press("Enter")

    for done, key in enumerate(["b", "a", "t"]):
        expect(page.locator("#pair-review[data-keys-ready]")).to_have_count(1)
        expect(page.get_by_test_id("review-progress")).to_have_text(f"{done} / 3 done")
        expect(page.get_by_test_id("review-conversation")).to_contain_text(f"Question {done + 1}")
        if done == 0:
            assert serious_violations(page, "#pair-review") == []
        if done == 1:
            page.keyboard.press("c")
            expect(page.get_by_test_id("pair-comment")).to_be_focused()
            page.keyboard.type("Shorter and right")
            page.keyboard.press("Escape")
        page.keyboard.press(key)
        value = "tie" if key == "t" else key
        expect(page.get_by_test_id(f"choice-{value}")).to_be_checked()
        expect(page.get_by_test_id("pair-submit")).to_be_focused()
        page.keyboard.press("Enter")

    expect(page.get_by_test_id("queue-finished")).to_be_visible()
    assert elsewhere == []

    swapped = dict(PairOrder.objects.filter(reviewer=querier).values_list("pair__position", "swapped"))
    flip = {"a": "b", "b": "a", "tie": "tie"}
    expected = [
        (n, pressed if not swapped[n] else flip[pressed]) for n, pressed in enumerate(["b", "a", "tie"])
    ]
    stored = list(
        Preference.objects.filter(reviewer=querier)
        .order_by("pair__position")
        .values_list("pair__position", "winner")
    )
    assert stored == expected
    assert Preference.objects.get(pair__position=1).comment == "Shorter and right"
    # Mapped back to versions: the first pick was for B's response only if B was shown as B.
    a, b = comparison_result(comparison).versions
    assert (a.version, b.version) == (VERSION_A, VERSION_B)
    wins_a = [w for _, w in expected].count("a")
    assert (a.wins, a.losses, a.ties) == (wins_a, 2 - wins_a, 1)
