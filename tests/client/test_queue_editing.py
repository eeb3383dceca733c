"""The Python client's queue-editing methods, over real HTTP to live_server."""

import pytest

from reviewapp.catalog.models import ReviewInstructions
from reviewapp.client import ApiError
from reviewapp.feedback.services import record_feedback
from reviewapp.queues import claims
from reviewapp.queues.models import QueueEvent, ReviewQueue
from tests import factories
from tests.queues.helpers import queue_of


def test_the_client_edits_closes_reopens_lists_removes_and_requeues(
    client_as, app, manager, querier, group_querier, transactional_db
):
    requests = [factories.make_request(app, question=f"Q{i}") for i in range(60)]
    queue = queue_of(requests, name="Week 1", created_by=manager)
    ReviewInstructions.objects.create(app=app, version=1, markdown="v1")
    first = queue.items.get(position=0)
    record_feedback(request=first.request, reviewer=querier, changes={"rating": "positive"})
    claims.complete_item(item=first, reviewer=querier)
    ReviewInstructions.objects.create(app=app, version=2, markdown="v2")
    client = client_as(manager)

    edited = client.update_review_queue(
        "support-bot", "Week 1", name="Week 1b", overlap=2, add_reviewers=[querier.email, group_querier.email]
    )
    closed = client.close_review_queue("support-bot", edited)
    reopened = client.reopen_review_queue("support-bot", queue.pk)
    items = list(client.list_review_queue_items("support-bot", queue.pk))
    done = list(client.list_review_queue_items("support-bot", queue.pk, status="in_progress"))
    removed = client.remove_from_review_queue("support-bot", queue.pk, [str(requests[-1].request_id)])
    requeued = client.requeue_review_items("support-bot", queue.pk, 1)

    assert (edited["name"], edited["overlap"]) == ("Week 1b", 2)
    assert sorted(edited["reviewers"]) == [group_querier.email, querier.email]
    assert closed["closed_at"] is not None and reopened["closed_at"] is None
    assert [row["request_id"] for row in items] == [str(r.request_id) for r in requests]
    assert [row["request_id"] for row in done] == [str(first.request_id)]
    assert (removed["removed"], removed["items"]) == (1, 59)
    assert requeued == {"requeued": 1}
    assert [e.action for e in QueueEvent.objects.filter(queue=queue).order_by("at", "id")] == [
        "created",
        "items_added",
        "edited",
        "closed",
        "reopened",
        "items_removed",
        "requeued",
    ]
    assert ReviewQueue.objects.get(pk=queue.pk).items.count() == 59


def test_a_bad_edit_from_the_client_raises_with_the_field_named(client_as, app, manager, transactional_db):
    queue = queue_of([factories.make_request(app)], name="Week 1", created_by=manager)

    with pytest.raises(ApiError) as error:
        client_as(manager).update_review_queue("support-bot", queue.pk, gold_rate=0.9, overlap=0)

    assert error.value.status == 400 and sorted(error.value.body) == ["gold_rate", "overlap"]
