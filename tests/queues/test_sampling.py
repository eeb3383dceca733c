"""Filling a queue by rules (queues.sampling): each rule alone, rules together, the target, the
per-version split, and the traces left out because another open queue is waiting on them."""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections, transaction
from django.utils import timezone

from reviewapp.catalog.models import Level
from reviewapp.queues import sampling, services
from reviewapp.queues.models import QueueEvent, QueueItem, ReviewQueue
from reviewapp.queues.sampling import Rules
from tests import factories

from .helpers import queue_of
from .sampling_data import at, done_reservation, draw_order, seed_world


@pytest.fixture
def world(app, manager, querier):
    return seed_world(app, querier, manager)


def selected(world, **rules) -> set:
    selection = sampling.select(world.app, Rules(seed=1, **rules))
    assert selection.selected == len(set(selection.request_ids))
    return set(selection.request_ids)


@pytest.mark.parametrize(
    ("rules", "names"),
    [
        ({}, "abcdefg"),
        ({"thumbs_down": True}, "ac"),
        ({"chunk_precision_below": 0.5}, "c"),  # d's 0.5 is not below 0.5
        ({"chunk_precision_below": 0.51}, "cd"),
        ({"chunk_precision_below": 1}, "cd"),  # b's passages are all relevant
        ({"reason": "wrong"}, "a"),
        ({"reason": "slow"}, "c"),
        ({"reason": "Wrong"}, ""),
        ({"app_versions": ("v2",)}, "cdg"),
        ({"app_versions": ("v1", "v3")}, "abef"),
        ({"judge": "f1", "judge_disagrees": True}, "bc"),  # a is mixed: no disagreement
        ({"judge": "f1", "judge_score_below": 0.3}, "ae"),  # b's 0.3 is not below it; f errored
        ({"judge": "f1", "judge_score_below": 0.5}, "abe"),
        ({"unreviewed": True}, "efg"),
        ({"since": at(0)}, "abcdef"),
        ({"since": at(2), "until": at(5)}, "bcd"),  # until is exclusive
        ({"until": at(0)}, "g"),
    ],
)
def test_each_rule_alone_selects_exactly_its_requests(world, rules, names):
    assert selected(world, **rules) == world.ids(*names)


@pytest.mark.parametrize(
    ("rules", "names"),
    [
        ({"thumbs_down": True, "app_versions": ("v2",)}, "c"),
        ({"thumbs_down": True, "since": at(2)}, "c"),
        ({"unreviewed": True, "app_versions": ("v1",)}, "e"),
        ({"unreviewed": True, "judge": "f1", "judge_score_below": 0.5}, "e"),
        ({"judge": "f1", "judge_disagrees": True, "judge_score_below": 0.5}, "b"),
        ({"chunk_precision_below": 0.6, "reason": "slow"}, "c"),
        ({"chunk_precision_below": 0.6, "thumbs_down": True, "app_versions": ("v1",)}, ""),
    ],
)
def test_rules_combine_and_every_one_must_hold(world, rules, names):
    assert selected(world, **rules) == world.ids(*names)


def test_nothing_of_another_app_is_ever_selected(world):
    every = set()
    for rules in (
        {},
        {"thumbs_down": True},
        {"chunk_precision_below": 1},
        {"reason": "wrong"},
        {"judge": "f1", "judge_disagrees": True},
        {"judge": "f1", "judge_score_below": 1},
    ):
        every |= selected(world, **rules)
    assert every <= set(world.app.requests.values_list("request_id", flat=True))
    assert not every & set(world.other_app.requests.values_list("request_id", flat=True))


@pytest.fixture
def traffic(app):
    """30 unreviewed requests: 2 of v1, 14 of v2, 14 of v3."""
    versions = ["v1"] * 2 + ["v2"] * 14 + ["v3"] * 14
    return [factories.make_request(app, app_version=v, created_at=at(i)) for i, v in enumerate(versions)]


def test_the_target_caps_the_sample_and_a_seed_draws_the_same_requests(app, traffic):
    ids = [r.request_id for r in traffic]

    first = sampling.select(app, Rules(target=5, seed=42))
    again = sampling.select(app, Rules(target=5, seed=42))
    other = sampling.select(app, Rules(target=5, seed=43))

    assert first.request_ids == draw_order(ids, 42)[:5]
    assert again.request_ids == first.request_ids
    assert other.request_ids == draw_order(ids, 43)[:5] != first.request_ids
    assert (first.matching, first.selected, first.seed) == (30, 5, 42)


def test_without_a_seed_one_is_drawn_and_reported(app, traffic):
    selection = sampling.select(app, Rules(target=3))

    assert 0 <= selection.seed <= sampling.MAX_SEED
    assert sampling.select(app, Rules(target=3, seed=selection.seed)).request_ids == selection.request_ids


def test_the_target_is_split_evenly_over_the_chosen_versions(app, traffic):
    by_version = {v: [r.request_id for r in traffic if r.app_version == v] for v in ("v1", "v2", "v3")}

    even = sampling.select(app, Rules(target=9, app_versions=("v2", "v3"), unreviewed=True, seed=5))
    short = sampling.select(app, Rules(target=10, app_versions=("v1", "v2", "v3"), seed=5))

    # 9 over two: the first version named takes the odd one.
    assert even.by_version == {"v2": 5, "v3": 4}
    assert set(even.request_ids) == set(
        draw_order(by_version["v2"], 5)[:5] + draw_order(by_version["v3"], 5)[:4]
    )
    # v1 has 2 of its 4: the other 2 are split over v2 and v3.
    assert short.by_version == {"v1": 2, "v2": 4, "v3": 4}
    assert set(short.request_ids) == set(
        by_version["v1"] + draw_order(by_version["v2"], 5)[:4] + draw_order(by_version["v3"], 5)[:4]
    )
    # Handed out mixed, in draw order, not a version at a time.
    assert short.request_ids == draw_order(short.request_ids, 5)


@pytest.mark.parametrize(
    ("target", "available", "expected"),
    [
        (10, {"a": 2, "b": 20, "c": 20}, {"a": 2, "b": 4, "c": 4}),
        (10, {"a": 1, "b": 1, "c": 3}, {"a": 1, "b": 1, "c": 3}),
        (2, {"a": 5, "b": 5, "c": 5}, {"a": 1, "b": 1, "c": 0}),
        (7, {"a": 0, "b": 5}, {"a": 0, "b": 5}),
    ],
)
def test_shares(target, available, expected):
    assert sampling.shares(target, available, list(available)) == expected


# --- each trace once across open queues -------------------------------------------------------


@pytest.fixture
def queued(app, manager, querier, traffic):
    """traffic[0] waits in an open queue; [1] is in a closed one; [2] got its one review in an open
    queue; [3] got one of the two its open queue wants; [4] waits in the queue being filled."""
    first, second, third, fourth, fifth = traffic[:5]
    waiting = queue_of([first], name="Waiting")
    closed = queue_of([second], name="Closed")
    ReviewQueue.objects.filter(pk=closed.pk).update(closed_at=timezone.now())
    reviewed = queue_of([third], name="Reviewed")
    done_reservation(reviewed.items.get(), querier)
    half = queue_of([fourth], name="Half done", overlap=2, assignment="open")
    done_reservation(half.items.get(), querier)
    target = queue_of([fifth], name="Target")
    return {"waiting": waiting, "target": target, "traffic": traffic}


def test_a_trace_waiting_in_another_open_queue_is_skipped(app, queued):
    traffic, target = queued["traffic"], queued["target"]

    selection = sampling.select(app, Rules(target=100, seed=1), queue=target)

    # Not [0] (waiting) nor [3] (one review of two done); not [4], already in the target.
    assert set(selection.request_ids) == {r.request_id for r in traffic} - {
        traffic[0].request_id,
        traffic[3].request_id,
        traffic[4].request_id,
    }
    assert (selection.matching, selection.skipped_queued, selection.selected) == (29, 2, 27)


def test_a_trace_waiting_elsewhere_is_taken_when_asked(app, queued):
    traffic, target = queued["traffic"], queued["target"]

    selection = sampling.select(app, Rules(target=100, seed=1, include_queued=True), queue=target)

    assert set(selection.request_ids) == {r.request_id for r in traffic} - {traffic[4].request_id}
    assert (selection.matching, selection.skipped_queued) == (29, 0)


def test_a_new_queue_skips_what_every_open_queue_waits_on(app, queued):
    traffic = queued["traffic"]

    selection = sampling.select(app, Rules(target=100, seed=1))

    assert (selection.matching, selection.skipped_queued) == (30, 3)
    assert {traffic[0].request_id, traffic[3].request_id, traffic[4].request_id}.isdisjoint(
        selection.request_ids
    )


def test_filling_adds_the_selection_and_logs_it(app, manager, queued):
    target = queued["target"]

    filled = sampling.fill_queue(queue=target, rules=Rules(target=4, seed=9), actor=manager)

    added = list(target.items.order_by("position").values_list("request_id", flat=True))
    assert added[1:] == filled.selection.request_ids and (filled.added, filled.items) == (4, 5)
    event = QueueEvent.objects.get(queue=target, action="filled_by_rules")
    assert event.actor == manager
    assert event.changes["rules"]["seed"] == 9 and event.changes["count"] == 4
    assert event.changes["skipped_queued"] == 2


def test_two_fills_in_a_row_never_put_a_trace_in_two_open_queues(app, manager, traffic):
    one, _ = services.create_queue(app=app, name="One", created_by=manager)
    two, _ = services.create_queue(app=app, name="Two", created_by=manager)

    sampling.fill_queue(queue=one, rules=Rules(target=20, seed=1), actor=manager)
    sampling.fill_queue(queue=two, rules=Rules(target=20, seed=1), actor=manager)

    assert one.items.count() == 20 and two.items.count() == 10
    assert not set(one.items.values_list("request_id", flat=True)) & set(
        two.items.values_list("request_id", flat=True)
    )


def test_create_filled_queue_makes_the_queue_and_fills_it(app, manager, querier, traffic):
    queue, filled = sampling.create_filled_queue(
        app=app,
        created_by=manager,
        rules=Rules(target=3, seed=3, app_versions=("v1",)),
        name="v1 sample",
        overlap=1,
        assignment="named",
        reviewers=[querier],
    )

    assert queue.name == "v1 sample" and list(queue.reviewers.all()) == [querier]
    assert set(queue.items.values_list("request_id", flat=True)) == {r.request_id for r in traffic[:2]}
    assert filled.selection.by_version == {"v1": 2}


def test_a_closed_queue_is_not_filled(app, manager, traffic):
    queue = queue_of(traffic[:1], name="Closed")
    ReviewQueue.objects.filter(pk=queue.pk).update(closed_at=timezone.now())
    queue.refresh_from_db()

    with pytest.raises(ValidationError) as error:
        sampling.fill_queue(queue=queue, rules=Rules(seed=1), actor=manager)

    assert "closed" in str(error.value)
    assert queue.items.count() == 1 and not QueueEvent.objects.filter(action="filled_by_rules").exists()


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ({"target": 0}, "target"),
        ({"target": sampling.MAX_TARGET + 1}, "target"),
        ({"since": at(5), "until": at(5)}, "until"),
        ({"since": at(6), "until": at(5)}, "until"),
        ({"chunk_precision_below": 0}, "chunk_precision_below"),
        ({"chunk_precision_below": 1.01}, "chunk_precision_below"),
        ({"judge": "f1", "judge_score_below": -0.1}, "judge_score_below"),
        ({"app_versions": ("v1", "v9")}, "app_versions"),
        ({"app_versions": ("v1", "v1")}, "app_versions"),
        ({"judge": "nobody", "judge_disagrees": True}, "judge"),
        ({"judge_disagrees": True}, "judge"),
        ({"judge": "f1"}, "judge"),
        ({"unreviewed": True, "thumbs_down": True}, "unreviewed"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_rules_name_their_field(world, rules, field):
    with pytest.raises(ValidationError) as error:
        sampling.select(world.app, Rules(**rules))

    assert field in error.value.message_dict


def test_the_judge_of_another_app_is_unknown_here(world, manager):
    lonely = factories.make_app("lonely-bot")
    factories.grant(lonely, manager, Level.CAN_MANAGE)
    factories.make_request(lonely)

    with pytest.raises(ValidationError) as error:
        sampling.select(lonely, Rules(judge="f1", judge_disagrees=True))

    assert error.value.message_dict["judge"] == ["this app has no judge named 'f1'"]
    assert not QueueItem.objects.exists()


@pytest.mark.parametrize("into", ["open queues", "new queues"])
def test_a_fill_waits_for_one_in_progress_so_no_trace_lands_in_two_open_queues(
    transactional_db, app, manager, into
):
    for i in range(30):
        factories.make_request(app, created_at=at(i))
    rules = Rules(target=20, seed=1)
    if into == "open queues":
        one, _ = services.create_queue(app=app, name="One", created_by=manager)
        two, _ = services.create_queue(app=app, name="Two", created_by=manager)

        def fill(name):
            sampling.fill_queue(queue={"One": one, "Two": two}[name], rules=rules, actor=manager)
    else:

        def fill(name):
            sampling.create_filled_queue(app=app, created_by=manager, rules=rules, name=name)

    first_filled, release = threading.Event(), threading.Event()

    def first():
        try:
            with transaction.atomic():
                fill("One")
                first_filled.set()
                release.wait(30)  # not committed yet
        finally:
            connections.close_all()

    def second():
        try:
            fill("Two")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert first_filled.wait(30)
    threads[1].start()
    threads[1].join(1.5)
    waited = threads[1].is_alive()
    release.set()
    for thread in threads:
        thread.join(30)

    assert waited, "the second fill should wait for the first to commit"
    one, two = ReviewQueue.objects.get(name="One"), ReviewQueue.objects.get(name="Two")
    assert one.items.count() == 20 and two.items.count() == 10
    assert not set(one.items.values_list("request_id", flat=True)) & set(
        two.items.values_list("request_id", flat=True)
    )


def test_logging_a_turn_does_not_wait_for_a_fill(transactional_db, app, manager):
    factories.make_request(app)
    queue, _ = services.create_queue(app=app, name="One", created_by=manager)
    logged = threading.Event()

    def log_a_turn():
        try:
            factories.make_request(app)
            logged.set()
        finally:
            connections.close_all()

    with transaction.atomic():
        sampling.fill_queue(queue=queue, rules=Rules(seed=1), actor=manager)
        thread = threading.Thread(target=log_a_turn)
        thread.start()
        if connection.vendor == "postgresql":
            assert logged.wait(10), "a turn's insert waited for the fill's lock"
        # SQLite (the embedded default) has one writer at a time: the turn waits for the fill's
        # commit, and must then be logged, not lost.
    assert logged.wait(30)
    thread.join(10)
    assert app.requests.count() == 2
