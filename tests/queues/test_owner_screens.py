"""The owner's queue screens through the test client."""

from reviewapp.feedback.services import record_feedback
from reviewapp.queues import claims, services
from reviewapp.queues.models import QueueItem, ReviewQueue
from tests import factories
from tests.queues.helpers import queue_of

BASE = "/apps/support-bot/queues/"


def test_the_create_form_starts_with_the_apps_instructions_and_lists_reviewers_and_requests(
    app, manager, querier, group_querier, viewer, as_user
):
    from reviewapp.catalog.models import ReviewInstructions

    ReviewInstructions.objects.create(app=app, version=1, markdown="Be strict about sources.")
    factories.make_request(app, question="Where is the billing page?")

    page = as_user(manager).get(BASE + "new/").content.decode()

    assert "Be strict about sources." in page
    assert querier.email in page and group_querier.email in page
    assert viewer.email not in page  # CAN_VIEW cannot review
    assert "Where is the billing page?" in page


def test_creating_a_queue_through_the_form_picks_requests_and_reviewers(
    app, manager, querier, group_querier, as_user
):
    picked = [factories.make_request(app, question=f"Q{i}") for i in range(3)]
    pasted = factories.make_request(app, question="pasted")

    response = as_user(manager).post(
        BASE + "new/",
        {
            "name": "Week 47",
            "instructions": "Look closely.",
            "overlap": "2",
            "assignment": "named",
            "reviewers": [querier.pk, group_querier.pk],
            "requests": [str(r.request_id) for r in picked],
            "request_ids": f"{pasted.request_id}\n",
        },
    )

    queue = ReviewQueue.objects.get(name="Week 47")
    assert response.status_code == 302 and response["Location"] == f"{BASE}{queue.pk}/"
    assert queue.items.count() == 4 and queue.overlap == 2
    assert set(queue.reviewers.all()) == {querier, group_querier}


def test_bad_form_input_is_shown_next_to_the_field_and_keeps_what_was_typed(app, manager, as_user):
    response = as_user(manager).post(
        BASE + "new/",
        {"name": "Keep me", "instructions": "My long text", "overlap": "0", "assignment": "named"},
    )

    page = response.content.decode()
    assert response.status_code == 400
    assert 'data-testid="error-overlap"' in page
    assert "Keep me" in page and "My long text" in page
    assert not ReviewQueue.objects.exists()


def test_too_few_named_reviewers_for_the_overlap_is_a_form_error(app, manager, querier, as_user):
    response = as_user(manager).post(
        BASE + "new/",
        {"name": "Q", "overlap": "2", "assignment": "named", "reviewers": [querier.pk]},
    )

    assert 'data-testid="error-reviewers"' in response.content.decode()
    assert not ReviewQueue.objects.exists()


def test_the_detail_page_shows_progress_kappa_and_the_disagreements(
    app, manager, querier, group_querier, as_user
):
    requests = [factories.make_request(app, question=f"Question {i}") for i in range(4)]
    queue = queue_of(
        requests, created_by=manager, overlap=2, assignment="named", reviewers=[querier, group_querier]
    )
    votes = {
        querier: ["positive", "positive", "negative", "negative"],
        group_querier: ["positive", "negative", "negative", "negative"],
    }
    for reviewer, ratings in votes.items():
        for request, rating in zip(requests, ratings, strict=True):
            record_feedback(request=request, reviewer=reviewer, changes={"rating": rating})
            claims.complete_item(item=queue.items.get(request=request), reviewer=reviewer)

    page = as_user(manager).get(f"{BASE}{queue.pk}/").content.decode()

    # p_o = 3/4; p_e = (2/4)(1/4) + (2/4)(3/4) = 1/2 → kappa = 0.5.
    assert "Cohen&#x27;s kappa" in page and ">0.50<" in page
    assert "8 / 8 reviews done" in page
    assert page.count('data-testid="disagreement"') == 1 and "Question 1" in page


def test_adding_items_on_the_detail_page_reports_those_already_there(app, manager, as_user):
    first, second = factories.make_request(app), factories.make_request(app)
    queue, _ = services.create_queue(app=app, name="Q", created_by=manager, request_ids=[first.request_id])
    client = as_user(manager)

    response = client.post(
        f"{BASE}{queue.pk}/items/", {"request_ids": f"{first.request_id}, {second.request_id}"}
    )

    assert response.status_code == 302
    assert "1 were already in the queue" in client.get(f"{BASE}{queue.pk}/").content.decode()
    assert queue.items.count() == 2


def test_adding_an_unknown_id_re_shows_the_form_with_the_error_and_the_text(app, manager, as_user):
    queue, _ = services.create_queue(app=app, name="Q", created_by=manager)

    response = as_user(manager).post(f"{BASE}{queue.pk}/items/", {"request_ids": "nope"})

    assert response.status_code == 400
    page = response.content.decode()
    assert 'data-testid="error-request_ids"' in page and "nope</textarea>" in page
    assert not QueueItem.objects.exists()


def test_queriers_see_only_their_queues_and_cannot_open_the_owner_pages(app, manager, querier, as_user):
    queue, _ = services.create_queue(
        app=app, name="Mine", created_by=manager, assignment="named", reviewers=[querier]
    )
    client = as_user(querier)

    listing = client.get(BASE).content.decode()

    assert "Mine" in listing and "New queue" not in listing
    assert client.get(f"{BASE}{queue.pk}/").status_code == 403
    assert client.get(BASE + "new/").status_code == 403
