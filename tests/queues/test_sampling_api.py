"""Filling a queue by rules over the REST API: POST .../review-queues/{id}/fill and
POST .../review-queues/fill (a new queue), previews, bad input and who may do it."""

import pytest

from reviewapp.queues.models import QueueEvent, QueueItem, ReviewQueue
from tests import factories

from .helpers import queue_of
from .sampling_data import draw_order, seed_world

API = "/api/v1/apps/support-bot/review-queues"


@pytest.fixture
def world(app, manager, querier):
    return seed_world(app, querier, manager)


@pytest.fixture
def target(world):
    return queue_of([world.by_name["g"]], name="Target")


def post(client, url, data):
    return client.post(url, data, content_type="application/json")


def test_a_preview_counts_and_writes_nothing(world, target, manager, as_user):
    response = post(
        as_user(manager), f"{API}/{target.pk}/fill", {"thumbs_down": True, "seed": 4, "preview": True}
    )

    assert response.status_code == 200, response.json()
    assert response.json() == {
        "preview": True,
        "seed": 4,
        "matching": 2,
        "skipped_queued": 0,
        "selected": 2,
        "by_version": {},
        "added": None,
        "items": None,
    }
    assert list(target.items.values_list("request_id", flat=True)) == [world.by_name["g"].request_id]
    assert not QueueEvent.objects.filter(action="filled_by_rules").exists()


def test_filling_adds_what_the_preview_showed(world, target, manager, as_user):
    body = {"app_versions": ["v1", "v2"], "target": 4, "seed": 11}
    client = as_user(manager)

    preview = post(client, f"{API}/{target.pk}/fill", body | {"preview": True}).json()
    response = post(client, f"{API}/{target.pk}/fill", body)

    assert response.status_code == 200
    data = response.json()
    # v1 has a, b, e; v2 has c, d (g is in the queue already): 2 and 2.
    assert data == preview | {"preview": False, "added": 4, "items": 5}
    assert data["by_version"] == {"v1": 2, "v2": 2} and data["matching"] == 5
    v1 = draw_order(world.ids("a", "b", "e"), 11)[:2]
    assert set(target.items.values_list("request_id", flat=True)) == world.ids("g", "c", "d") | set(v1)


def test_a_new_queue_is_created_filled_by_rules(world, manager, querier, as_user):
    body = {
        "name": "Disagreements",
        "overlap": 1,
        "assignment": "named",
        "reviewers": [querier.email],
        "judge": "f1",
        "judge_disagrees": True,
        "seed": 1,
    }

    response = post(as_user(manager), f"{API}/fill", body)

    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["queue"]["name"] == "Disagreements" and data["queue"]["reviewers"] == [querier.email]
    assert (data["fill"]["added"], data["fill"]["items"], data["fill"]["preview"]) == (2, 2, False)
    queue = ReviewQueue.objects.get(pk=data["queue"]["id"])
    assert set(queue.items.values_list("request_id", flat=True)) == world.ids("b", "c")
    assert queue.created_by == manager


def test_a_new_queue_preview_creates_nothing(world, manager, as_user):
    response = post(as_user(manager), f"{API}/fill", {"name": "Later", "unreviewed": True, "preview": True})

    assert response.status_code == 200
    assert response.json()["queue"] is None
    assert (response.json()["fill"]["matching"], response.json()["fill"]["selected"]) == (3, 3)
    assert not ReviewQueue.objects.exists() and not QueueItem.objects.exists()


def test_a_trace_waiting_in_another_open_queue_is_skipped_unless_asked(world, target, manager, as_user):
    queue_of([world.by_name["e"]], name="Elsewhere")
    client = as_user(manager)

    skipped = post(client, f"{API}/{target.pk}/fill", {"unreviewed": True, "preview": True}).json()
    taken = post(client, f"{API}/{target.pk}/fill", {"unreviewed": True, "include_queued": True}).json()

    assert (skipped["matching"], skipped["skipped_queued"], skipped["selected"]) == (2, 1, 1)
    assert (taken["skipped_queued"], taken["added"]) == (0, 2)
    assert set(target.items.values_list("request_id", flat=True)) == world.ids("e", "f", "g")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"app_versions": ["v9"]}, "app_versions"),
        ({"chunk_precision_below": 1.5}, "chunk_precision_below"),
        ({"chunk_precision_below": 0}, "chunk_precision_below"),
        ({"chunk_precision_below": "0.5"}, "chunk_precision_below"),
        ({"judge": "f1", "judge_score_below": 2}, "judge_score_below"),
        ({"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"}, "until"),
        ({"since": "yesterday"}, "since"),
        ({"target": 0}, "target"),
        ({"target": 10_001}, "target"),
        ({"target": 10**30}, "target"),
        ({"thumbs_down": "yes"}, "thumbs_down"),
        ({"judge": "nobody", "judge_disagrees": True}, "judge"),
        ({"unreviewed": True, "reason": "wrong"}, "unreviewed"),
        ({"thumbsdown": True}, "thumbsdown"),
        ({"reason": "x" * 201}, "reason"),
        ({"app_versions": ["v1"] * 21}, "app_versions"),
    ],
)
def test_bad_rules_are_a_400_naming_the_field_and_write_nothing(world, target, manager, as_user, body, field):
    response = post(as_user(manager), f"{API}/{target.pk}/fill", body)

    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert target.items.count() == 1 and not QueueEvent.objects.filter(action="filled_by_rules").exists()


def test_bad_input_to_a_new_filled_queue_creates_no_queue(world, manager, as_user):
    client = as_user(manager)

    bad_rule = post(client, f"{API}/fill", {"name": "Q", "target": 0})
    no_name = post(client, f"{API}/fill", {"thumbs_down": True})
    made = post(client, f"{API}/fill", {"name": "Target", "thumbs_down": True})
    conflict = post(client, f"{API}/fill", {"name": "Target", "thumbs_down": True})
    ids = post(client, f"{API}/fill", {"name": "Q2", "request_ids": []})

    assert (bad_rule.status_code, list(bad_rule.json())) == (400, ["target"])
    assert (no_name.status_code, list(no_name.json())) == (400, ["name"])
    assert made.status_code == 201  # the name was free
    assert (conflict.status_code, list(conflict.json())) == (409, ["name"])
    assert (ids.status_code, list(ids.json())) == (400, ["request_ids"])
    assert set(ReviewQueue.objects.values_list("name", flat=True)) == {"Target"}


def test_a_closed_queue_is_refused(world, target, manager, as_user):
    ReviewQueue.objects.filter(pk=target.pk).update(closed_at="2026-03-02T00:00:00Z")

    response = post(as_user(manager), f"{API}/{target.pk}/fill", {"thumbs_down": True})

    assert response.status_code == 400 and "closed" in str(response.json())
    assert target.items.count() == 1


@pytest.mark.parametrize("persona", ["outsider", "viewer", "querier", "anonymous"])
def test_only_managers_fill(world, target, persona, request, as_user):
    user = None if persona == "anonymous" else request.getfixturevalue(persona)
    client = as_user(user)

    existing = post(client, f"{API}/{target.pk}/fill", {"thumbs_down": True})
    new = post(client, f"{API}/fill", {"name": "Mine", "thumbs_down": True})

    expected = {"outsider": 404, "viewer": 403, "querier": 403, "anonymous": 401}[persona]
    assert (existing.status_code, new.status_code) == (expected, expected)
    assert target.items.count() == 1 and ReviewQueue.objects.count() == 1


def test_a_queue_of_another_app_is_a_404(world, manager, as_user):
    foreign = queue_of([factories.make_request(world.other_app)], name="Theirs")

    response = post(as_user(manager), f"{API}/{foreign.pk}/fill", {"thumbs_down": True})

    assert response.status_code == 404
    assert foreign.items.count() == 1
