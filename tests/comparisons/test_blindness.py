"""A reviewer of a pairwise queue never learns which version gave which response: the page holds
no version name, no request id of the pair, nothing that tells the order; the order is the
reviewer's own, drawn at random and kept."""

import re

from reviewapp.comparisons.models import PairOrder
from reviewapp.queues import claims
from tests.comparisons.helpers import VERSION_A, VERSION_B, imported_queue
from tests.conftest import client_for


def page_of(client, queue, item) -> str:
    response = client.get(f"/queues/{queue.pk}/review/{item.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def responses_on(html: str) -> list[str]:
    return re.findall(r'data-testid="response">\s*<header><h2 class="h-small">Response ([AB])</h2></header>\s*'
                      r'<div class="wrap">(.*?)</div>', html, re.S)  # fmt: skip


def test_the_page_names_no_version_no_request_id_and_gives_no_hint_of_order(app, querier):
    queue, comparison = imported_queue(app, [("How do I rotate a token?", "Answer from A", "Answer from B")])
    item = queue.items.get()
    pair = comparison.pairs.get()
    claims.claim_item(item=item, reviewer=querier)

    html = page_of(client_for(querier), queue, item)

    for secret in (VERSION_A, VERSION_B, str(pair.request_a_id), str(pair.request_b_id)):
        assert secret not in html
        assert secret.replace("-", "") not in html
    for hint in ("original", "replay", "swapped", "version_a", "version_b", "request_a", "request_b"):
        assert hint not in html.lower()
    assert "How do I rotate a token?" in html
    assert sorted(text for _, text in responses_on(html)) == ["Answer from A", "Answer from B"]
    assert [label for label, _ in responses_on(html)] == ["A", "B"]


def test_the_order_is_drawn_once_per_reviewer_and_kept_on_reload(app, querier, group_querier):
    queue, _ = imported_queue(app, [("Q", "first answer", "second answer")], overlap=2)
    item = queue.items.get()
    for reviewer in (querier, group_querier):
        claims.claim_item(item=item, reviewer=reviewer)
        client = client_for(reviewer)
        first = responses_on(page_of(client, queue, item))
        assert all(responses_on(page_of(client, queue, item)) == first for _ in range(5))
        swapped = PairOrder.objects.get(pair=item.pair, reviewer=reviewer).swapped
        expected = ["second answer", "first answer"] if swapped else ["first answer", "second answer"]
        assert [text for _, text in first] == expected
    assert PairOrder.objects.count() == 2


def test_both_orders_occur_over_many_pairs(app, querier):
    queue, _ = imported_queue(app, [(f"Question {i}", f"A{i}", f"B{i}") for i in range(40)])
    client = client_for(querier)
    firsts = []
    for item in queue.items.order_by("position"):
        claims.claim_item(item=item, reviewer=querier)
        firsts.append(responses_on(page_of(client, queue, item))[0][1][0])
    # Each order has chance 1/2 per pair: all 40 alike would happen once in 2^39 runs.
    assert set(firsts) == {"A", "B"}
    swapped = dict(PairOrder.objects.values_list("pair__position", "swapped"))
    assert [("B" if swapped[n] else "A") for n in range(40)] == firsts
