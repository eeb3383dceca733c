"""Editing a queue, its items and re-queueing over the REST API: exact answers for every persona."""

import uuid

import pytest

from reviewapp.catalog.models import Level, ReviewInstructions
from reviewapp.feedback.services import record_feedback
from reviewapp.queues import claims
from reviewapp.queues.models import QueueEvent, Reservation, ReviewQueue
from tests import factories
from tests.queues.helpers import queue_of

API = "/api/v1/apps/support-bot/review-queues"


@pytest.fixture
def queue(app, manager):
    requests = [factories.make_request(app, question=f"Question {i}?") for i in range(3)]
    return queue_of(requests, name="Week 1", created_by=manager)


def patch(client, url, data):
    return client.patch(url, data, content_type="application/json")


def test_patch_changes_what_it_names_and_answers_the_queue_with_its_history(
    app, manager, querier, group_querier, queue, as_user
):
    response = patch(
        as_user(manager),
        f"{API}/{queue.pk}",
        {
            "name": "Week 1 (experts)",
            "overlap": 2,
            "assignment": "named",
            "reviewers": [querier.email, group_querier.email],
            "due_at": "2026-12-24T17:00:00Z",
            "gold_rate": 0.05,
            "gold_accuracy_threshold": 0.75,
            "adjudicators": [querier.email],
            "closed": True,
        },
    )

    body = response.json()
    assert response.status_code == 200
    assert (body["name"], body["overlap"], body["assignment"]) == ("Week 1 (experts)", 2, "named")
    assert sorted(body["reviewers"]) == [group_querier.email, querier.email]
    assert body["adjudicators"] == [querier.email]
    assert (body["due_at"], body["gold_rate"], body["gold_accuracy_threshold"]) == (
        "2026-12-24T17:00:00Z",
        0.05,
        0.75,
    )
    assert body["closed_at"] is not None
    assert body["progress"]["reviews_needed"] == 6
    latest = body["history"][0]
    assert (latest["action"], latest["actor"]) == ("edited", manager.email)
    assert latest["changes"]["overlap"] == [1, 2]
    assert latest["changes"]["closed_at"][0] is None
    assert [e["action"] for e in body["history"]] == ["edited", "items_added", "created"]


def test_patch_adds_and_removes_reviewers_by_email(app, manager, querier, group_querier, queue, as_user):
    client = as_user(manager)

    added = patch(client, f"{API}/{queue.pk}", {"add_reviewers": [querier.email, group_querier.email]})
    removed = patch(client, f"{API}/{queue.pk}", {"remove_reviewers": [querier.email]})

    assert sorted(added.json()["reviewers"]) == [group_querier.email, querier.email]
    assert removed.json()["reviewers"] == [group_querier.email]
    assert QueueEvent.objects.filter(action="edited").count() == 2


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"overlap": 0}, ["overlap"]),
        ({"overlap": "many"}, ["overlap"]),
        ({"name": 7}, ["name"]),
        ({"name": ""}, ["name"]),
        ({"blind": "yes"}, ["blind"]),
        ({"closed": 1}, ["closed"]),
        ({"gold_rate": 0.6, "gold_accuracy_threshold": -0.1}, ["gold_accuracy_threshold", "gold_rate"]),
        ({"due_at": "next week"}, ["due_at"]),
        ({"assignment": "lottery"}, ["assignment"]),
        ({"assignment": "named", "overlap": 2}, ["reviewers"]),
        ({"reviewers": ["nobody@example.com"]}, ["reviewers"]),
        ({"adjudicators": ["viewer@example.com"]}, ["adjudicators"]),
        ({"colour": "red"}, ["colour"]),
    ],
)
def test_patch_refuses_bad_input_with_400_naming_each_field(
    app, manager, viewer, queue, as_user, body, fields
):
    response = patch(as_user(manager), f"{API}/{queue.pk}", body)

    assert response.status_code == 400
    assert sorted(response.json()) == fields
    queue.refresh_from_db()
    assert (queue.name, queue.overlap, queue.assignment, queue.gold_rate) == ("Week 1", 1, "open", 0.0)
    assert not QueueEvent.objects.filter(action="edited").exists()


def test_patch_to_a_taken_name_is_a_409(app, manager, queue, as_user):
    ReviewQueue.objects.create(app=app, name="Taken")

    response = patch(as_user(manager), f"{API}/{queue.pk}", {"name": "Taken"})

    assert response.status_code == 409 and "name" in response.json()


def test_patch_is_404_to_outsiders_403_below_manage_and_404_for_another_apps_queue(
    app, manager, querier, viewer, outsider, queue, as_user
):
    other = factories.make_app("other-bot")
    factories.grant(other, manager, Level.CAN_MANAGE)
    theirs = ReviewQueue.objects.create(app=other, name="Theirs")

    assert patch(as_user(outsider), f"{API}/{queue.pk}", {"name": "X"}).status_code == 404
    assert patch(as_user(viewer), f"{API}/{queue.pk}", {"name": "X"}).status_code == 403
    assert patch(as_user(querier), f"{API}/{queue.pk}", {"name": "X"}).status_code == 403
    assert patch(as_user(None), f"{API}/{queue.pk}", {"name": "X"}).status_code in (401, 403)
    assert patch(as_user(manager), f"{API}/{theirs.pk}", {"name": "X"}).status_code == 404
    assert ReviewQueue.objects.get(pk=queue.pk).name == "Week 1"
    assert ReviewQueue.objects.get(pk=theirs.pk).name == "Theirs"


def test_items_are_paged_fifty_at_a_time_with_no_cap(app, manager, as_user):
    requests = [factories.make_request(app, question=f"Q{i}") for i in range(230)]
    queue = queue_of(requests, name="Big")
    client = as_user(manager)

    pages = []
    url = f"{API}/{queue.pk}/items"
    while url:
        body = client.get(url).json()
        pages.append(body)
        url = body["next"]

    assert [len(p["results"]) for p in pages] == [50, 50, 50, 50, 30]
    assert {p["count"] for p in pages} == {230}
    got = [row["request_id"] for p in pages for row in p["results"]]
    assert got == [str(r.request_id) for r in requests]
    assert client.get(f"{API}/{queue.pk}/items?page=6").status_code == 404


def test_items_filter_by_status_reviewer_and_disagreement(app, manager, querier, group_querier, as_user):
    requests = [factories.make_request(app, question=f"Q{i}") for i in range(4)]
    queue = queue_of(requests, name="Q", overlap=2)
    # Item 0: both done, they disagree. Item 1: querier done (in progress). Item 2: group_querier
    # holds it (in progress). Item 3: nobody (waiting).
    for reviewer, rating in ((querier, "positive"), (group_querier, "negative")):
        record_feedback(request=requests[0], reviewer=reviewer, changes={"rating": rating})
        claims.complete_item(item=queue.items.get(request=requests[0]), reviewer=reviewer)
    record_feedback(request=requests[1], reviewer=querier, changes={"rating": "positive"})
    claims.complete_item(item=queue.items.get(request=requests[1]), reviewer=querier)
    claims.claim_item(item=queue.items.get(request=requests[2]), reviewer=group_querier)
    client = as_user(manager)

    def ids(query):
        response = client.get(f"{API}/{queue.pk}/items?{query}")
        assert response.status_code == 200
        return [
            requests.index(next(r for r in requests if str(r.pk) == row["request_id"]))
            for row in response.json()["results"]
        ]

    assert ids("status=done") == [0]
    assert ids("status=in_progress") == [1, 2]
    assert ids("status=waiting") == [3]
    assert ids(f"reviewer={querier.email}") == [0, 1]
    assert ids(f"reviewer={group_querier.email}") == [0, 2]
    assert ids("disagreement=true") == [0]
    assert ids(f"status=in_progress&reviewer={group_querier.email}") == [2]
    rows = client.get(f"{API}/{queue.pk}/items").json()["results"]
    assert [(r["status"], r["done"]) for r in rows] == [
        ("done", 2),
        ("in_progress", 1),
        ("in_progress", 0),
        ("waiting", 0),
    ]
    assert sorted(r["reviewer"] for r in rows[0]["reviews"]) == [group_querier.email, querier.email]
    bad = client.get(f"{API}/{queue.pk}/items?status=finished&page=0")
    assert bad.status_code == 400 and sorted(bad.json()) == ["page", "status"]


def test_remove_items_keeps_the_feedback_and_is_audit_logged(app, manager, querier, queue, as_user):
    item = queue.items.first()
    record_feedback(request=item.request, reviewer=querier, changes={"rating": "negative"})
    claims.complete_item(item=item, reviewer=querier)
    stranger = uuid.uuid4()

    response = as_user(manager).post(
        f"{API}/{queue.pk}/items/remove",
        {"request_ids": [str(item.request_id), str(stranger)]},
        content_type="application/json",
    )

    assert response.status_code == 200
    assert response.json() == {"removed": 1, "reviews": 1, "not_in_queue": [str(stranger)], "items": 2}
    assert not queue.items.filter(pk=item.pk).exists() and not Reservation.objects.exists()
    assert item.request.assessments.get().rating == "negative"  # the feedback belongs to the request
    event = QueueEvent.objects.get(action="items_removed")
    assert (event.actor, event.changes) == (
        manager,
        {"request_ids": [str(item.request_id)], "count": 1, "reviews": 1},
    )


def test_remove_items_refuses_malformed_ids_and_needs_manage(app, manager, querier, outsider, queue, as_user):
    url = f"{API}/{queue.pk}/items/remove"
    body = {"request_ids": [str(queue.items.first().request_id)]}

    bad = as_user(manager).post(url, {"request_ids": ["not-an-id"]}, content_type="application/json")

    assert bad.status_code == 400 and list(bad.json()) == ["request_ids"]
    assert as_user(querier).post(url, body, content_type="application/json").status_code == 403
    assert as_user(outsider).post(url, body, content_type="application/json").status_code == 404
    assert queue.items.count() == 3


def test_requeue_over_the_api_and_its_refusals(app, manager, querier, queue, as_user):
    ReviewInstructions.objects.create(app=app, version=1, markdown="Old")
    item = queue.items.first()
    record_feedback(request=item.request, reviewer=querier, changes={"rating": "positive"})
    claims.complete_item(item=item, reviewer=querier)
    ReviewInstructions.objects.create(app=app, version=2, markdown="New")
    client = as_user(manager)
    url = f"{API}/{queue.pk}/requeue"

    current = client.post(url, {"version": 2}, content_type="application/json")
    done = client.post(url, {"version": 1}, content_type="application/json")

    assert current.status_code == 400
    assert current.json() == {
        "version": ["not an earlier instructions version of this app (the current version is 2)"]
    }
    assert (done.status_code, done.json()) == (200, {"requeued": 1})
    assert as_user(querier).post(url, {"version": 1}, content_type="application/json").status_code == 403
