"""Building review queues through the service and the REST API, and what bad input gets."""

import uuid

import pytest
from django.core.exceptions import ValidationError

from reviewapp.queues import claims, services
from reviewapp.queues.models import QueueItem, ReviewQueue
from tests import factories

API = "/api/v1/apps/support-bot/review-queues"


@pytest.fixture
def requests_(app):
    return [factories.make_request(app, question=f"Question {i}?") for i in range(5)]


def post(client, url, data):
    return client.post(url, data, content_type="application/json")


def test_add_items_adds_in_the_order_given_and_reports_ids_already_there(app, manager, requests_):
    queue, first = services.create_queue(app=app, name="Q", created_by=manager)
    ids = [r.request_id for r in requests_]

    first = services.add_items(queue=queue, request_ids=[str(ids[2]), ids[0]])
    again = services.add_items(queue=queue, request_ids=[ids[0], ids[1], ids[1]])

    assert first.added == [ids[2], ids[0]]
    assert (again.added, again.already_in_queue) == ([ids[1]], [ids[0]])
    assert list(queue.items.values_list("request_id", "position")) == [(ids[2], 0), (ids[0], 1), (ids[1], 2)]


def test_add_items_rejects_the_whole_call_when_one_id_is_of_another_app(app, manager, requests_):
    queue, _ = services.create_queue(app=app, name="Q", created_by=manager)
    stranger = factories.make_request(factories.make_app("other-bot"))

    with pytest.raises(ValidationError) as error:
        services.add_items(queue=queue, request_ids=[requests_[0].request_id, stranger.request_id])

    assert str(stranger.request_id) in str(error.value.message_dict["request_ids"])
    assert not queue.items.exists()


def test_the_api_creates_a_queue_with_its_first_requests(
    app, manager, querier, group_querier, requests_, as_user
):
    body = {
        "name": "November traces",
        "overlap": 2,
        "assignment": "named",
        "blind": True,
        "reviewers": [querier.email, group_querier.email],
        "request_ids": [str(r.request_id) for r in requests_],
    }

    response = post(as_user(manager), API, body)

    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["items"] == {"added": 5, "already_in_queue": [], "items": 5}
    assert data["queue"]["overlap"] == 2 and data["queue"]["blind"] is True
    assert sorted(data["queue"]["reviewers"]) == sorted([querier.email, group_querier.email])
    assert data["queue"]["progress"]["reviews_needed"] == 10
    queue = ReviewQueue.objects.get(pk=data["queue"]["id"])
    assert queue.created_by == manager and queue.items.count() == 5


def test_adding_a_request_twice_through_the_api_is_a_reported_no_op(app, manager, requests_, as_user):
    client = as_user(manager)
    queue_id = post(client, API, {"name": "Q", "request_ids": [str(requests_[0].request_id)]}).json()[
        "queue"
    ]["id"]

    response = post(
        client, f"{API}/{queue_id}/items", {"request_ids": [str(r.request_id) for r in requests_[:2]]}
    )

    assert response.status_code == 200
    assert response.json() == {"added": 1, "already_in_queue": [str(requests_[0].request_id)], "items": 2}
    assert QueueItem.objects.filter(queue_id=queue_id).count() == 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"overlap": 0}, "overlap"),
        ({"name": ""}, "name"),
        ({"assignment": "lottery"}, "assignment"),
        ({"request_ids": ["not-a-uuid"]}, "request_ids"),
        ({"request_ids": [str(uuid.uuid4())]}, "request_ids"),
        ({"reviewers": ["nobody@example.com"]}, "reviewers"),
        ({"assignment": "named", "overlap": 2, "reviewers": []}, "reviewers"),
    ],
)
def test_bad_input_to_create_is_a_400_naming_the_field_and_creates_nothing(
    app, manager, requests_, as_user, change, field
):
    body = {"name": "Q", "request_ids": [str(requests_[0].request_id)]} | change

    response = post(as_user(manager), API, body)

    assert response.status_code == 400
    assert field in response.json()
    assert not ReviewQueue.objects.exists() and not QueueItem.objects.exists()


def test_a_reviewer_without_can_query_is_refused_by_name(app, manager, viewer, querier, as_user):
    response = post(as_user(manager), API, {"name": "Q", "reviewers": [querier.email, viewer.email]})

    assert response.status_code == 400
    assert viewer.email in str(response.json()["reviewers"])
    assert querier.email not in str(response.json()["reviewers"])
    assert "“Can query”" in str(response.json()["reviewers"]) and "CAN_" not in str(response.json())
    assert not ReviewQueue.objects.exists()


def test_a_request_of_another_app_is_refused_and_nothing_is_added(app, manager, requests_, as_user):
    client = as_user(manager)
    queue_id = post(client, API, {"name": "Q"}).json()["queue"]["id"]
    stranger = factories.make_request(factories.make_app("other-bot"))

    response = post(
        client,
        f"{API}/{queue_id}/items",
        {"request_ids": [str(requests_[0].request_id), str(stranger.request_id)]},
    )

    assert response.status_code == 400
    assert str(stranger.request_id) in str(response.json()["request_ids"])
    assert not QueueItem.objects.filter(queue_id=queue_id).exists()


def test_an_empty_list_of_items_is_a_400(app, manager, as_user):
    client = as_user(manager)
    queue_id = post(client, API, {"name": "Q"}).json()["queue"]["id"]

    response = post(client, f"{API}/{queue_id}/items", {"request_ids": []})

    assert response.status_code == 400
    assert "request_ids" in response.json()


def test_a_second_queue_with_the_same_name_is_a_409(app, manager, as_user):
    client = as_user(manager)
    assert post(client, API, {"name": "Q"}).status_code == 201

    response = post(client, API, {"name": "Q"})

    assert response.status_code == 409
    assert "name" in response.json()


def test_queriers_may_not_build_queues_and_outsiders_do_not_see_the_app(app, querier, outsider, as_user):
    assert post(as_user(querier), API, {"name": "Q"}).status_code == 403
    assert post(as_user(outsider), API, {"name": "Q"}).status_code == 404
    assert as_user(outsider).get(API).status_code == 404
    assert as_user(None).get(API).status_code in (401, 403)


def test_list_and_detail_show_progress_per_reviewer(app, manager, querier, requests_, as_user):
    queue, _ = services.create_queue(
        app=app, name="Q", created_by=manager, request_ids=[r.request_id for r in requests_]
    )
    reservation = claims.claim_next(queue=queue, reviewer=querier)
    claims.complete_item(item=reservation.item, reviewer=querier)
    claims.claim_next(queue=queue, reviewer=querier)
    client = as_user(manager)

    listed = client.get(API).json()
    detail = client.get(f"{API}/{queue.pk}").json()

    assert [q["name"] for q in listed] == ["Q"]
    assert listed[0]["progress"]["reviews_done"] == 1
    assert detail["progress"]["reviewers"] == [{"email": querier.email, "done": 1, "reserved": 1}]
    assert detail["progress"]["items_complete"] == 1
    assert detail["agreement"]["rating"]["units"] == 0
