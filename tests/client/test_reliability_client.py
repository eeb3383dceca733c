"""reviewapp.client's gold and reviewer-reliability methods, against a live server."""

import pytest

from reviewapp.client import ApiError
from reviewapp.queues import claims
from tests import factories
from tests.queues.helpers import queue_of


def test_a_manager_marks_gold_and_reads_each_reviewers_figures(
    client_as, app, manager, querier, transactional_db
):
    known = factories.make_request(app, question="Known")
    factories.make_assessment(known, manager, "positive")
    unreviewed = factories.make_request(app)
    queue = queue_of([factories.make_request(app) for _ in range(6)])
    queue.gold_rate, queue.gold_accuracy_threshold = 0.5, 0.5
    queue.save(update_fields=["gold_rate", "gold_accuracy_threshold"])
    client = client_as(manager)

    (gold,) = client.mark_gold("support-bot", str(known.request_id))
    with pytest.raises(ApiError) as refused:
        client.mark_gold("support-bot", [str(unreviewed.request_id)])
    while (reservation := claims.claim_next(queue=queue, reviewer=querier)) is not None:
        factories.make_assessment(reservation.item.request, querier, "negative")
        claims.complete_item(item=reservation.item, reviewer=querier)
    figures = client.review_queue_reviewers("support-bot", {"id": queue.pk})

    assert (gold["rating"], gold["source"]) == ("positive", "majority")
    assert refused.value.status == 400 and "has no feedback yet" in refused.value.body["request_ids"][0]
    assert [g["request_id"] for g in client.list_gold("support-bot")] == [str(known.request_id)]
    (row,) = figures["reviewers"]
    assert row["email"] == querier.email
    assert row["gold_thumbs"] == {"correct": 0, "total": 1, "rate": 0.0} and row["flagged"]
    client.unmark_gold("support-bot", str(known.request_id))
    assert client.list_gold("support-bot") == []
    with pytest.raises(ApiError) as hidden:
        client_as(querier).review_queue_reviewers("support-bot", queue.pk)
    assert hidden.value.status == 403
