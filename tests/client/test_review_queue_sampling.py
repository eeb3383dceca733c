"""fill_review_queue and create_review_queue_by_rules of reviewapp.client, over real HTTP to live_server."""

import pytest

from reviewapp.client import ApiError
from reviewapp.queues.models import ReviewQueue
from tests import factories
from tests.queues.helpers import queue_of
from tests.queues.sampling_data import at, draw_order, seed_world


@pytest.fixture
def world(app, manager, querier, transactional_db):
    return seed_world(app, querier, manager)


def test_a_preview_then_a_fill_with_its_seed_adds_what_it_counted(client_as, world, manager):
    target = queue_of([world.by_name["a"]], name="Weekly")
    client = client_as(manager)

    preview = client.fill_review_queue("support-bot", "Weekly", preview=True, unreviewed=True, target=2)
    filled = client.fill_review_queue(
        "support-bot", target.pk, unreviewed=True, target=2, seed=preview["seed"]
    )

    assert (preview["preview"], preview["matching"], preview["selected"], preview["added"]) == (
        True,
        3,
        2,
        None,
    )
    assert filled == preview | {"preview": False, "added": 2, "items": 3}
    expected = draw_order(world.ids("e", "f", "g"), preview["seed"])[:2]
    assert list(target.items.order_by("position").values_list("request_id", flat=True))[1:] == expected


def test_a_new_queue_by_rules_with_times_and_versions(client_as, world, manager, querier):
    client = client_as(manager)

    made = client.create_review_queue_by_rules(
        "support-bot",
        "v2 since March",
        reviewers=[querier.email],
        since=at(0),
        until=at(10),
        app_versions=("v2",),
        seed=8,
    )

    assert made["queue"]["assignment"] == "named" and made["queue"]["reviewers"] == [querier.email]
    assert (made["fill"]["added"], made["fill"]["by_version"]) == (2, {"v2": 2})
    queue = ReviewQueue.objects.get(name="v2 since March")
    assert set(queue.items.values_list("request_id", flat=True)) == world.ids("c", "d")


def test_bad_rules_raise_with_the_field_named_and_make_nothing(client_as, world, manager):
    client = client_as(manager)

    with pytest.raises(ApiError) as unknown:
        client.create_review_queue_by_rules("support-bot", "Nope", app_versions=["v9"])
    with pytest.raises(ApiError) as reversed_range:
        client.create_review_queue_by_rules("support-bot", "Nope", since=at(5), until=at(1), preview=True)

    assert unknown.value.status == 400 and "app_versions" in unknown.value.body
    assert reversed_range.value.status == 400 and list(reversed_range.value.body) == ["until"]
    assert not ReviewQueue.objects.exists()


def test_an_outsider_gets_a_404_and_a_querier_a_403(client_as, world, outsider, querier):
    queue = queue_of([world.by_name["a"]], name="Weekly")
    factories.make_request(world.app)

    with pytest.raises(ApiError) as hidden:
        client_as(outsider).fill_review_queue("support-bot", queue.pk, thumbs_down=True)
    with pytest.raises(ApiError) as refused:
        client_as(querier).create_review_queue_by_rules("support-bot", "Mine", thumbs_down=True)

    assert (hidden.value.status, refused.value.status) == (404, 403)
    assert queue.items.count() == 1 and ReviewQueue.objects.count() == 1
