"""enable_trace_reviews and the queue helpers of reviewapp.client, over real HTTP to live_server."""

import pytest

from reviewapp.client import ApiError
from reviewapp.queues.models import ReviewQueue
from tests import factories


def test_enable_trace_reviews_makes_a_queue_and_then_adds_to_it(
    client_as, app, manager, querier, group_querier, transactional_db
):
    requests = [factories.make_request(app) for _ in range(4)]
    ids = [str(r.request_id) for r in requests]
    client = client_as(manager)

    made = client.enable_trace_reviews(
        "support-bot", ids[:3], name="Expert pass", overlap=2, reviewers=[querier.email, group_querier.email]
    )
    again = client.enable_trace_reviews("support-bot", ids[2:], queue="Expert pass")

    assert made["items"]["added"] == 3 and made["queue"]["assignment"] == "named"
    assert again["items"] == {"added": 1, "already_in_queue": [ids[2]], "items": 4}
    assert again["queue"]["progress"]["reviews_needed"] == 8
    assert [q["name"] for q in client.list_review_queues("support-bot")] == ["Expert pass"]
    assert ReviewQueue.objects.get(name="Expert pass").items.count() == 4


def test_enable_trace_reviews_with_a_foreign_request_raises_and_makes_no_queue(
    client_as, app, manager, transactional_db
):
    stranger = factories.make_request(factories.make_app("other-bot"))

    with pytest.raises(ApiError) as error:
        client_as(manager).enable_trace_reviews("support-bot", [str(stranger.request_id)])

    assert error.value.status == 400 and "request_ids" in error.value.body
    assert not ReviewQueue.objects.exists()


def test_an_unknown_queue_name_is_a_404_from_the_client(client_as, app, manager, transactional_db):
    with pytest.raises(ApiError) as error:
        client_as(manager).get_review_queue("support-bot", "No such queue")

    assert error.value.status == 404
