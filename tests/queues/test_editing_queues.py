"""Editing a queue at any time (services.update_queue): nothing submitted is ever lost, every change
is in the audit log, and a closed queue hands out nothing."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from reviewapp.catalog.models import Level
from reviewapp.queues import claims, progress, services
from reviewapp.queues.models import QueueEvent, Reservation
from tests import factories
from tests.queues.helpers import queue_of


def reviewers(app, count):
    users = [factories.make_user(f"reviewer{i}@example.com") for i in range(count)]
    for user in users:
        factories.grant(app, user, Level.CAN_QUERY)
    return users


def make_queue(app, *, items=1, **options):
    requests = [factories.make_request(app, question=f"Q{i}") for i in range(items)]
    return queue_of(requests, **options)


def review(queue, user):
    reservation = claims.claim_next(queue=queue, reviewer=user)
    assert reservation is not None
    return claims.complete_item(item=reservation.item, reviewer=user)


def test_overlap_changes_never_lose_work_raise_lower_below_done_and_raise_again(app, manager):
    queue = make_queue(app, items=1, overlap=2)
    a, b, c, d = reviewers(app, 4)
    review(queue, a)
    review(queue, b)
    assert claims.claim_next(queue=queue, reviewer=c) is None  # full at 2

    services.update_queue(queue=queue, actor=manager, changes={"overlap": 3})
    review(queue, c)  # raising opened a third slot
    assert claims.claim_next(queue=queue, reviewer=d) is None

    services.update_queue(queue=queue, actor=manager, changes={"overlap": 1})
    assert Reservation.objects.done().count() == 3  # lowering below the done count deletes nothing
    figures = progress.queue_progress(queue=queue)
    assert (figures.items_complete, figures.reviews_done, figures.reviews_needed) == (1, 1, 1)
    assert [(r.email, r.done) for r in figures.reviewers] == [(u.email, 1) for u in (a, b, c)]
    assert claims.claim_next(queue=queue, reviewer=d) is None

    services.update_queue(queue=queue, actor=manager, changes={"overlap": 4})
    assert claims.claim_next(queue=queue, reviewer=d).slot == 4  # slots 1-3 still hold the done reviews
    review(queue, d)
    assert sorted(Reservation.objects.done().values_list("slot", flat=True)) == [1, 2, 3, 4]
    assert [
        e.changes["overlap"] for e in QueueEvent.objects.filter(action="edited").order_by("at", "id")
    ] == [
        [2, 3],
        [3, 1],
        [1, 4],
    ]


def test_lowering_the_overlap_releases_only_reservations_in_progress_beyond_it(app, manager):
    queue = make_queue(app, items=1, overlap=3)
    a, b, c = reviewers(app, 3)
    review(queue, a)
    held_b = claims.claim_next(queue=queue, reviewer=b, now=timezone.now() - timedelta(minutes=2))
    held_c = claims.claim_next(queue=queue, reviewer=c)

    services.update_queue(queue=queue, actor=manager, changes={"overlap": 2})

    left = set(Reservation.objects.values_list("reviewer__email", flat=True))
    assert left == {a.email, b.email}  # the done one, and the oldest in progress that still fits
    assert Reservation.objects.filter(pk=held_b.pk).exists()
    assert not Reservation.objects.filter(pk=held_c.pk).exists()


def test_a_removed_reviewer_keeps_their_done_work_and_loses_what_they_held(app, manager):
    a, b, c = reviewers(app, 3)
    queue = make_queue(app, items=3, overlap=1, assignment="named", reviewers=[a, b, c])
    review(queue, a)
    held = claims.claim_next(queue=queue, reviewer=a)

    services.update_queue(queue=queue, actor=manager, changes={"remove_reviewers": [a]})

    assert Reservation.objects.filter(reviewer=a).unfinished().count() == 0
    assert Reservation.objects.filter(reviewer=a).done().count() == 1
    assert not services.may_review(queue=queue, user=a)
    assert claims.claim_next(queue=queue, reviewer=b).item == held.item  # released to the others
    figures = progress.queue_progress(queue=queue)
    assert {r.email: r.done for r in figures.reviewers}[a.email] == 1
    event = QueueEvent.objects.get(action="edited")
    assert event.changes == {"reviewers": [sorted([a.email, b.email, c.email]), sorted([b.email, c.email])]}


def test_a_closed_queue_hands_out_nothing_and_reopening_hands_out_again(app, manager):
    (a,) = reviewers(app, 1)
    queue = make_queue(app, items=2)
    item = queue.items.first()

    services.update_queue(queue=queue, actor=manager, changes={"closed": True})

    assert queue.closed_at is not None
    assert claims.claim_next(queue=queue, reviewer=a) is None
    assert claims.claim_item(item=item, reviewer=a) is None
    assert not services.may_review(queue=queue, user=a)
    assert services.queues_for_reviewer(a) == []
    assert services.queues_for_reviewer(a, closed=True) == [queue]
    assert not Reservation.objects.exists()

    services.update_queue(queue=queue, actor=manager, changes={"closed": False})

    assert claims.claim_next(queue=queue, reviewer=a) is not None
    assert [e.action for e in QueueEvent.objects.order_by("at", "id")] == [
        "created",
        "items_added",
        "closed",
        "reopened",
    ]


def test_every_change_is_audit_logged_with_before_and_after(app, manager, querier, group_querier):
    queue = make_queue(app, items=1, name="Old")
    due = datetime(2026, 12, 24, 17, 0, tzinfo=UTC)

    changed = services.update_queue(
        queue=queue,
        actor=manager,
        changes={
            "name": "New",
            "instructions": "Be strict.",
            "overlap": 2,
            "assignment": "named",
            "blind": True,
            "due_at": due,
            "gold_rate": 0.05,
            "gold_accuracy_threshold": 0.8,
            "reviewers": [querier, group_querier],
            "adjudicators": [querier],
        },
    )

    event = QueueEvent.objects.get(action="edited")
    assert event.actor == manager
    assert (
        event.changes
        == changed
        == {
            "name": ["Old", "New"],
            "instructions": ["", "Be strict."],
            "overlap": [1, 2],
            "assignment": ["open", "named"],
            "blind": [False, True],
            "due_at": [None, "2026-12-24T17:00:00+00:00"],
            "gold_rate": [0.0, 0.05],
            "gold_accuracy_threshold": [None, 0.8],
            "reviewers": [[], [group_querier.email, querier.email]],
            "adjudicators": [[], [querier.email]],
        }
    )
    queue.refresh_from_db()
    assert (queue.name, queue.overlap, queue.due_at, queue.gold_rate) == ("New", 2, due, 0.05)
    # The same values again change nothing and write nothing.
    assert services.update_queue(queue=queue, actor=manager, changes={"name": "New", "overlap": 2}) == {}
    assert QueueEvent.objects.filter(action="edited").count() == 1


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"name": "  "}, "name", "a queue needs a name"),
        ({"name": "x" * 201}, "name", "at most 200 characters"),
        ({"overlap": 0}, "overlap", "overlap must be a whole number from 1 to 100"),
        ({"overlap": True}, "overlap", "overlap must be a whole number from 1 to 100"),
        ({"assignment": "lottery"}, "assignment", "one of named, round_robin, open"),
        ({"blind": "yes"}, "blind", "blind is true or false"),
        ({"due_at": "tomorrow"}, "due_at", "a date and time, or empty"),
        ({"gold_rate": 0.51}, "gold_rate", "gold rate must be from 0 to 0.5"),
        ({"gold_rate": float("nan")}, "gold_rate", "gold rate must be from 0 to 0.5"),
        ({"gold_accuracy_threshold": 1.5}, "gold_accuracy_threshold", "from 0 to 1, or empty"),
        ({"assignment": "named", "overlap": 2}, "reviewers", "needs at least 2 named reviewers"),
        ({"colour": "red"}, "colour", "not a setting of a queue that can be changed"),
    ],
)
def test_a_bad_change_names_its_field_and_changes_nothing(app, manager, changes, field, words):
    queue = make_queue(app, items=1, name="Stays")

    with pytest.raises(ValidationError) as error:
        services.update_queue(queue=queue, actor=manager, changes=changes)

    assert list(error.value.message_dict) == [field]
    assert words in " ".join(error.value.message_dict[field])
    queue.refresh_from_db()
    assert (queue.name, queue.overlap, queue.assignment, queue.gold_rate) == ("Stays", 1, "open", 0.0)
    assert not QueueEvent.objects.filter(action="edited").exists()


def test_a_name_another_queue_has_is_a_conflict(app, manager):
    make_queue(app, name="Taken")
    queue = make_queue(app, name="Mine")

    with pytest.raises(ValidationError) as error:
        services.update_queue(queue=queue, actor=manager, changes={"name": "Taken"})

    assert error.value.error_dict["name"][0].code == "conflict"


def test_reviewers_and_adjudicators_need_can_query(app, manager, viewer, outsider):
    queue = make_queue(app)

    for field in ("add_reviewers", "adjudicators"):
        with pytest.raises(ValidationError) as error:
            services.update_queue(queue=queue, actor=manager, changes={field: [viewer, outsider]})
        name = "reviewers" if field == "add_reviewers" else "adjudicators"
        assert list(error.value.message_dict) == [name]
        assert f"{outsider.email}, {viewer.email} cannot be" in error.value.message_dict[name][0]
    assert not queue.reviewers.exists() and not queue.adjudicators.exists()
