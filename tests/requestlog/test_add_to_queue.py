"""The request log's "add to a queue": the full queue form, carrying the selection or the filters."""

import uuid

from django.urls import reverse

from reviewapp.queues.models import QueueItem, ReviewQueue
from tests import factories


def post(client, app, **data):
    return client.post(reverse("request-add-to-queue", args=[app.slug]), data)


def test_the_log_opens_the_full_queue_form_carrying_the_selection(app, manager, querier, as_user):
    a, b, _ = (factories.make_request(app) for _ in range(3))

    response = post(as_user(manager), app, scope="selected", request_ids=[a.pk, b.pk])

    page = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="carried">The 2 selected requests' in page
    assert page.count('name="request_ids"') == 2 and str(a.pk) in page and str(b.pk) in page
    # Every setting of a new queue is there, and nothing is made yet.
    for field in (
        "name",
        "overlap",
        "assignment",
        "blind",
        "reviewers",
        "due_at",
        "gold_rate",
        "adjudicators",
    ):
        assert f'name="{field}"' in page
    assert querier.email in page
    assert not ReviewQueue.objects.exists()


def test_selected_requests_go_into_a_new_queue_with_all_its_settings(
    app, manager, querier, group_querier, as_user
):
    a, b, _ = (factories.make_request(app) for _ in range(3))

    response = post(
        as_user(manager),
        app,
        save="1",
        scope="selected",
        request_ids=[a.pk, b.pk],
        target="new",
        name="Week 1",
        overlap="2",
        assignment="named",
        blind="on",
        reviewers=[querier.pk, group_querier.pk],
        due_at="2026-12-24T17:00",
        gold_rate="0.1",
        gold_accuracy_threshold="0.8",
        adjudicators=[querier.pk],
    )

    queue = ReviewQueue.objects.get(app=app, name="Week 1")
    assert response.status_code == 302
    assert response["Location"] == reverse("queue-detail", args=[app.slug, queue.pk])
    assert set(queue.items.values_list("request_id", flat=True)) == {a.pk, b.pk}
    assert (queue.overlap, queue.assignment, queue.blind) == (2, "named", True)
    assert (queue.gold_rate, queue.gold_accuracy_threshold) == (0.1, 0.8)
    assert queue.due_at.isoformat() == "2026-12-24T17:00:00+00:00"
    assert set(queue.reviewers.all()) == {querier, group_querier}
    assert list(queue.adjudicators.all()) == [querier]


def test_a_form_error_keeps_the_selection_and_what_was_typed(app, manager, querier, as_user):
    a, b = (factories.make_request(app) for _ in range(2))

    response = post(
        as_user(manager),
        app,
        save="1",
        scope="selected",
        request_ids=[a.pk, b.pk],
        target="new",
        name="Keep this name",
        overlap="2",
        assignment="named",
        reviewers=[querier.pk],
        gold_rate="0.9",
    )

    page = response.content.decode()
    assert response.status_code == 400
    assert 'data-testid="error-gold_rate"' in page and "gold rate must be from 0 to 0.5" in page
    assert "Keep this name" in page
    assert f'name="request_ids" value="{a.pk}"' in page and f'name="request_ids" value="{b.pk}"' in page
    assert not ReviewQueue.objects.exists()


def test_the_service_rule_on_reviewers_shows_beside_the_field_and_keeps_the_selection(
    app, manager, querier, as_user
):
    a = factories.make_request(app)

    response = post(
        as_user(manager),
        app,
        save="1",
        scope="selected",
        request_ids=[a.pk],
        target="new",
        name="Too few",
        overlap="2",
        assignment="named",
        reviewers=[querier.pk],
    )

    page = response.content.decode()
    assert response.status_code == 400
    assert 'data-testid="error-reviewers"' in page and "needs at least 2 named reviewers" in page
    assert f'name="request_ids" value="{a.pk}"' in page


def test_all_matching_requests_go_into_an_existing_queue_once(app, manager, as_user):
    queue = ReviewQueue.objects.create(app=app, name="Imports", created_by=manager)
    imported = [factories.make_request(app, source="import") for _ in range(3)]
    factories.make_request(app, source="review_app")
    client = as_user(manager)

    opened = post(client, app, scope="matching", source="import")
    assert 'data-testid="carried">All 3 requests matching' in opened.content.decode()
    assert 'name="source" value="import"' in opened.content.decode()
    for _ in range(2):
        response = post(
            client, app, save="1", scope="matching", source="import", target="existing", queue=queue.pk
        )

    assert response.status_code == 302
    assert set(queue.items.values_list("request_id", flat=True)) == {r.pk for r in imported}
    assert QueueItem.objects.count() == 3
    assert queue.events.filter(action="items_added").count() == 1


def test_ids_of_another_app_or_unknown_ids_add_nothing_and_say_why(app, manager, as_user):
    other = factories.make_app("other-bot")
    foreign = factories.make_request(other)
    mine = factories.make_request(app)
    queue = ReviewQueue.objects.create(app=app, name="Q", created_by=manager)
    client = as_user(manager)
    for ids in ([mine.pk, foreign.pk], [mine.pk, uuid.uuid4()]):
        response = post(
            client, app, save="1", scope="selected", request_ids=ids, target="existing", queue=queue.pk
        )
        assert response.status_code == 400
        page = response.content.decode()
        assert 'data-testid="error-request_ids"' in page and "no such request" in page
        assert f'name="request_ids" value="{mine.pk}"' in page
    assert not queue.items.exists()


def test_it_needs_a_selection_and_a_queue(app, manager, as_user):
    mine = factories.make_request(app)
    client = as_user(manager)

    nothing = post(client, app, scope="selected")
    assert nothing.status_code == 302
    assert "Select at least one request." in client.get(nothing["Location"]).content.decode()

    no_queue = post(client, app, save="1", scope="selected", request_ids=[mine.pk], target="existing")
    assert no_queue.status_code == 400
    assert 'data-testid="error-queue"' in no_queue.content.decode()
    assert not ReviewQueue.objects.exists()


def test_a_queue_of_another_app_cannot_be_chosen(app, manager, as_user):
    other = factories.make_app("other-bot")
    foreign_queue = ReviewQueue.objects.create(app=other, name="Theirs")
    mine = factories.make_request(app)

    response = post(
        as_user(manager),
        app,
        save="1",
        scope="selected",
        request_ids=[mine.pk],
        target="existing",
        queue=foreign_queue.pk,
    )

    assert response.status_code == 400
    assert not foreign_queue.items.exists()


def test_only_managers_build_queues(app, querier, outsider, as_user):
    mine = factories.make_request(app)
    data = {"save": "1", "scope": "selected", "request_ids": [mine.pk], "target": "new", "name": "X"}
    assert post(as_user(querier), app, **data).status_code == 403
    assert post(as_user(outsider), app, **data).status_code == 404
    assert not ReviewQueue.objects.exists()
