import uuid

from django.urls import reverse

from reviewapp.queues.models import QueueItem, ReviewQueue
from tests import factories


def post(client, app, **data):
    return client.post(reverse("request-add-to-queue", args=[app.slug]), data)


def test_selected_requests_go_into_a_new_queue(app, manager, as_user):
    a, b, _ = (factories.make_request(app) for _ in range(3))
    response = post(as_user(manager), app, scope="selected", request_ids=[a.pk, b.pk], new_queue="Week 1")
    queue = ReviewQueue.objects.get(app=app, name="Week 1")
    assert response.status_code == 302
    assert response["Location"] == reverse("queue-detail", args=[app.slug, queue.pk])
    assert set(queue.items.values_list("request_id", flat=True)) == {a.pk, b.pk}


def test_all_matching_requests_go_into_an_existing_queue_once(app, manager, as_user):
    queue = ReviewQueue.objects.create(app=app, name="Imports", created_by=manager)
    imported = [factories.make_request(app, source="import") for _ in range(3)]
    factories.make_request(app, source="review_app")
    client = as_user(manager)
    post(client, app, scope="matching", source="import", queue=queue.pk)
    response = post(client, app, scope="matching", source="import", queue=queue.pk)
    assert response.status_code == 302
    assert set(queue.items.values_list("request_id", flat=True)) == {r.pk for r in imported}
    assert QueueItem.objects.count() == 3


def test_ids_of_another_app_or_unknown_ids_add_nothing_and_say_why(app, manager, as_user):
    other = factories.make_app("other-bot")
    foreign = factories.make_request(other)
    mine = factories.make_request(app)
    queue = ReviewQueue.objects.create(app=app, name="Q", created_by=manager)
    client = as_user(manager)
    for ids in ([mine.pk, foreign.pk], [mine.pk, uuid.uuid4()]):
        response = post(client, app, scope="selected", request_ids=ids, queue=queue.pk)
        assert response.status_code == 302
        follow = client.get(response["Location"])
        assert "no such request" in follow.content.decode()
    assert not queue.items.exists()


def test_it_needs_a_queue_and_a_selection(app, manager, as_user):
    mine = factories.make_request(app)
    client = as_user(manager)
    post(client, app, scope="selected", request_ids=[mine.pk])
    post(client, app, scope="selected", new_queue="Nothing chosen")
    assert not ReviewQueue.objects.exists()
    page = client.get(reverse("requestlog", args=[app.slug]))
    assert "Pick an existing queue or name a new one" in page.content.decode()
    assert "Select at least one request." in page.content.decode()


def test_a_queue_of_another_app_cannot_be_chosen(app, manager, as_user):
    other = factories.make_app("other-bot")
    foreign_queue = ReviewQueue.objects.create(app=other, name="Theirs")
    mine = factories.make_request(app)
    post(as_user(manager), app, scope="selected", request_ids=[mine.pk], queue=foreign_queue.pk)
    assert not foreign_queue.items.exists()


def test_only_managers_build_queues(app, querier, outsider, as_user):
    mine = factories.make_request(app)
    assert (
        post(as_user(querier), app, scope="selected", request_ids=[mine.pk], new_queue="X").status_code == 403
    )
    assert (
        post(as_user(outsider), app, scope="selected", request_ids=[mine.pk], new_queue="X").status_code
        == 404
    )
    assert not ReviewQueue.objects.exists()
