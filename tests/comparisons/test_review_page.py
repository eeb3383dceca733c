"""The pairwise review page without JavaScript: an ordinary form, the pick stored as the versions
it names, then the next pair."""

from reviewapp.comparisons.models import PairOrder, Preference
from reviewapp.queues import claims
from reviewapp.queues.models import QueueItem
from tests.comparisons.helpers import a_request, imported_queue
from tests.conftest import client_for


def test_a_plain_form_post_stores_the_pick_and_goes_to_the_next_pair(app, querier):
    queue, _ = imported_queue(app, [("Q1", "A1", "B1"), ("Q2", "A2", "B2")])
    first, second = queue.items.order_by("position")
    client = client_for(querier)
    response = client.post(f"/queues/{queue.pk}/review/")
    assert response["Location"] == f"/queues/{queue.pk}/review/{first.pk}/"
    html = client.get(response["Location"]).content.decode()
    assert 'name="choice" value="b"' in html and 'aria-keyshortcuts="b"' in html
    swapped = PairOrder.objects.get(reviewer=querier).swapped

    response = client.post(
        f"/queues/{queue.pk}/review/{first.pk}/pick/",
        {"choice": "b", "reasons": ["clearer", "other"], "other_reason": "Friendlier", "comment": "Better"},
    )

    assert response.status_code == 302
    assert response["Location"] == f"/queues/{queue.pk}/review/{second.pk}/"
    stored = Preference.objects.get()
    assert (stored.winner, stored.reasons, stored.other_reason, stored.comment) == (
        "a" if swapped else "b",
        ["clearer", "other"],
        "Friendlier",
        "Better",
    )
    # Back on the first pair, the reviewer's own pick is shown as they made it.
    again = client.get(f"/queues/{queue.pk}/review/{first.pk}/").content.decode()
    assert 'value="b" id="id_choice_1" data-testid="choice-b" aria-keyshortcuts="b" checked' in again


def test_an_item_that_is_no_pair_is_a_404_for_its_reviewer(app, querier):
    queue, _ = imported_queue(app, [("Q1", "A1", "B1")])
    # Every route refuses a bare id (test_pairwise_items_come_with_pairs); an item without its pair
    # can still come from data written before that rule, and must not break the page.
    QueueItem.objects.create(queue=queue, request=a_request(app, "Stray"), position=5)
    stray = queue.items.get(pair__isnull=True)
    claims.claim_item(item=stray, reviewer=querier)
    assert client_for(querier).get(f"/queues/{queue.pk}/review/{stray.pk}/").status_code == 404
