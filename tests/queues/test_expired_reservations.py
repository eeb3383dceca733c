"""A reservation that expired is no longer held: the page says so and offers to take the item again."""

from datetime import timedelta

import pytest
from django.utils import timezone

from reviewapp.queues import claims
from reviewapp.queues.models import Reservation
from tests import factories
from tests.queues.helpers import queue_of


@pytest.fixture
def queue(app, manager):
    requests = [factories.make_request(app, question=f"Question {i}") for i in range(2)]
    return queue_of(requests, name="Traces", created_by=manager)


def item_url(queue, item):
    return f"/queues/{queue.pk}/review/{item.pk}/"


def test_held_by_counts_live_and_submitted_reservations_not_expired_ones(queue, querier):
    first, second = queue.items.order_by("position")
    claims.claim_item(item=first, reviewer=querier, now=timezone.now() - timedelta(hours=2))
    claims.complete_item(item=second, reviewer=querier, now=timezone.now() - timedelta(hours=2))

    assert [r.item for r in Reservation.objects.held_by(querier)] == [second]


def test_opening_an_item_whose_reservation_expired_offers_to_take_it_again_and_changes_nothing(
    queue, querier, as_user
):
    first = queue.items.order_by("position").first()
    expired = claims.claim_item(item=first, reviewer=querier, now=timezone.now() - timedelta(hours=2))

    response = as_user(querier).get(item_url(queue, first))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="reservation-lapsed"' in html and "Take it again" in html
    assert 'data-testid="review-screen"' not in html
    assert Reservation.objects.get().expires_at == expired.expires_at


def test_taking_it_again_renews_the_reservation_and_shows_the_item(queue, querier, as_user):
    first = queue.items.order_by("position").first()
    claims.claim_item(item=first, reviewer=querier, now=timezone.now() - timedelta(hours=2))
    client = as_user(querier)

    response = client.post(item_url(queue, first))

    assert response.status_code == 302 and response["Location"] == item_url(queue, first)
    assert Reservation.objects.get().expires_at > timezone.now()
    assert 'data-testid="review-screen"' in client.get(item_url(queue, first)).content.decode()


def test_once_another_reviewer_took_the_slot_the_item_is_full(queue, querier, group_querier, as_user):
    first = queue.items.order_by("position").first()
    claims.claim_item(item=first, reviewer=querier, now=timezone.now() - timedelta(hours=2))
    claims.claim_item(item=first, reviewer=group_querier)

    response = as_user(querier).get(item_url(queue, first))

    assert response.status_code == 409
    assert 'data-testid="item-full"' in response.content.decode()


def test_a_reviewer_with_only_an_expired_reservation_is_offered_to_continue(queue, querier, as_user):
    first = queue.items.order_by("position").first()
    claims.claim_item(item=first, reviewer=querier, now=timezone.now() - timedelta(hours=2))
    client = as_user(querier)

    page = client.get(f"/queues/{queue.pk}/review/")
    taken = client.post(f"/queues/{queue.pk}/review/")

    assert page.status_code == 200 and 'data-testid="start-review"' in page.content.decode()
    assert taken["Location"] == item_url(queue, first)  # their own item first, renewed
    assert Reservation.objects.get().expires_at > timezone.now()
