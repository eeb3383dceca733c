"""Opening review pages (GET/HEAD) reserves nothing and renews nothing: only a POST reserves.

Browsers prefetch links, crawlers and link previewers follow them; none of that may take an item
away from the reviewers of a queue.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from reviewapp.catalog.models import Level
from reviewapp.queues import claims, services
from reviewapp.queues.models import Reservation
from tests import factories


@pytest.fixture
def queue(app, manager, querier):
    requests = [factories.make_request(app, question=f"Question {i}") for i in range(3)]
    queue, _ = services.create_queue(
        app=app, name="Traces", created_by=manager, request_ids=[r.request_id for r in requests]
    )
    return queue


def review_url(queue, item=None):
    return f"/queues/{queue.pk}/review/" + (f"{item.pk}/" if item else "")


def reservations():
    return list(Reservation.objects.order_by("id").values_list())


def every_review_url(queue):
    first = queue.items.order_by("position").first()
    return [
        review_url(queue),
        f"{review_url(queue)}?after={first.pk}",
        *(review_url(queue, item) for item in queue.items.all()),
    ]


PREFETCH = {"HTTP_SEC_PURPOSE": "prefetch", "HTTP_PURPOSE": "prefetch"}


def test_an_anonymous_prefetcher_reserves_nothing(queue, as_user):
    client = as_user(None)

    for url in every_review_url(queue):
        assert client.get(url, **PREFETCH).status_code == 302  # to the sign-in page
        assert client.head(url, **PREFETCH).status_code == 302

    assert reservations() == []


def test_a_reviewer_opening_every_review_page_reserves_nothing(queue, querier, as_user):
    client = as_user(querier)

    for url in every_review_url(queue):
        assert client.get(url, **PREFETCH).status_code == 200
        assert client.head(url).status_code == 200

    assert reservations() == []


def test_opening_pages_does_not_renew_or_move_what_a_reviewer_holds(queue, querier, as_user):
    first, second, _third = queue.items.order_by("position")
    long_ago = timezone.now() - timedelta(hours=2)
    claims.claim_item(item=first, reviewer=querier, now=long_ago)  # expired, still theirs
    claims.claim_item(item=second, reviewer=querier)
    before = reservations()
    client = as_user(querier)

    pages = [client.get(url) for url in every_review_url(queue)]

    assert reservations() == before
    # The expired one is no longer held: the reviewer is sent to the one they hold.
    assert pages[0].status_code == 302 and pages[0]["Location"] == review_url(queue, second)
    assert pages[1]["Location"] == review_url(queue, second)  # ?after=first: the one held past it
    assert 'data-testid="reservation-lapsed"' in client.get(review_url(queue, first)).content.decode()


def test_a_reviewer_is_shown_a_start_button_and_posting_it_reserves_one_item(queue, querier, as_user):
    client = as_user(querier)

    page = client.get(review_url(queue)).content.decode()
    response = client.post(review_url(queue))

    assert f'<form method="post" action="{review_url(queue)}">' in page
    first = queue.items.order_by("position").first()
    assert response.status_code == 302 and response["Location"] == review_url(queue, first)
    assert list(Reservation.objects.values_list("item", "reviewer")) == [(first.pk, querier.pk)]


def test_an_item_not_yet_held_is_shown_with_a_button_that_takes_it(queue, querier, as_user):
    item = queue.items.order_by("position").last()
    client = as_user(querier)

    page = client.get(review_url(queue, item)).content.decode()
    response = client.post(review_url(queue, item))

    assert f'action="{review_url(queue, item)}"' in page and 'data-testid="review-screen"' not in page
    assert response["Location"] == review_url(queue, item)
    assert Reservation.objects.get(reviewer=querier).item == item


def test_the_queue_lists_start_reviewing_with_a_form_not_a_link(app, queue, querier, as_user):
    client = as_user(querier)

    for page in (client.get("/queues/"), client.get(f"/apps/{app.slug}/queues/")):
        html = page.content.decode()
        assert f'<form method="post" action="{review_url(queue)}"' in html
        assert f'href="{review_url(queue)}' not in html
    assert reservations() == []


def test_the_done_page_shows_when_nothing_is_left_and_posting_changes_nothing(app, queue, querier, as_user):
    other = factories.make_user("other@example.com")
    factories.grant(app, other, Level.CAN_QUERY)
    for item in queue.items.all():
        claims.claim_item(item=item, reviewer=other)
    before = reservations()
    client = as_user(querier)

    shown = client.get(review_url(queue))
    posted = client.post(review_url(queue))

    assert 'data-testid="queue-finished"' in shown.content.decode()
    assert posted.status_code == 302 and posted["Location"] == review_url(queue)
    assert reservations() == before


def test_typing_a_draft_keeps_the_item_reserved(queue, querier, as_user):
    item = queue.items.order_by("position").first()
    claims.claim_item(item=item, reviewer=querier, now=timezone.now() - timedelta(minutes=29))

    as_user(querier).post(review_url(queue, item) + "draft/", {"data": '{"comment": "Still here"}'})

    assert Reservation.objects.get(reviewer=querier).expires_at > timezone.now() + timedelta(minutes=29)
