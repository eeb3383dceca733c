"""A pairwise queue's items are made with their pairs: adding a request by id alone is refused
everywhere an id can be added, and the queue page shows no thumbs agreement for it."""

import pytest
from django.core.exceptions import ValidationError

from reviewapp.queues import services as queues
from reviewapp.queues.models import ReviewQueue
from tests import factories
from tests.comparisons.helpers import imported_queue
from tests.conftest import client_for
from tests.queues.helpers import queue_of


def test_adding_a_request_by_id_to_a_pairwise_queue_is_a_400_naming_the_field(app, manager):
    queue, _ = imported_queue(app, [("Q", "one", "two")])
    stray = factories.make_request(app, question="Not a pair")

    response = client_for(manager).post(
        f"/api/v1/apps/{app.slug}/review-queues/{queue.pk}/items",
        {"request_ids": [str(stray.request_id)]},
        content_type="application/json",
    )

    assert response.status_code == 400
    assert "request_ids" in response.json()
    assert "compares two responses" in str(response.json()["request_ids"])
    assert queue.items.count() == 1


def test_the_request_log_and_the_judges_offer_only_queues_that_take_requests(app, manager):
    pairwise, _ = imported_queue(app, [("Q", "one", "two")], name="Pairs")
    plain = queue_of([factories.make_request(app)], name="Plain")

    assert list(ReviewQueue.objects.filter(app=app).taking_requests()) == [plain]
    assert pairwise.mode == ReviewQueue.Mode.PAIRWISE


def test_a_pairwise_queue_page_shows_its_results_and_no_thumbs_agreement(app, manager):
    queue, _ = imported_queue(app, [("Q", "one", "two")])

    page = client_for(manager).get(f"/apps/{app.slug}/queues/{queue.pk}/").content.decode()

    assert 'data-testid="agreement"' not in page
    assert "Where reviewers disagree" not in page
    plain = queue_of([factories.make_request(app)], name="Plain")
    page = client_for(manager).get(f"/apps/{app.slug}/queues/{plain.pk}/").content.decode()
    assert 'data-testid="agreement"' in page


def test_queues_own_services_still_refuse_a_bare_id(app, manager):
    queue, _ = imported_queue(app, [("Q", "one", "two")])

    with pytest.raises(ValidationError) as refusal:
        queues.add_items(queue=queue, request_ids=[str(factories.make_request(app).request_id)])

    assert list(refusal.value.message_dict) == ["request_ids"]
    assert queue.items.count() == 1
