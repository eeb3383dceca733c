"""Handing items to reviewers: overlap, reservations that expire, assignment modes."""

from datetime import timedelta

import pytest
from django.utils import timezone

from reviewapp.catalog.models import Level
from reviewapp.queues import claims, progress, services
from reviewapp.queues.models import Reservation
from tests import factories
from tests.queues.helpers import queue_of


def reviewers(app, count):
    users = [factories.make_user(f"reviewer{i}@example.com") for i in range(count)]
    for user in users:
        factories.grant(app, user, Level.CAN_QUERY)
    return users


def make_queue(app, *, items=3, **options):
    requests = [factories.make_request(app, question=f"Q{i}") for i in range(items)]
    return queue_of(requests, **options)


def test_an_item_is_handed_to_no_more_than_overlap_reviewers(app):
    queue = make_queue(app, items=1, overlap=2)
    a, b, c = reviewers(app, 3)

    assert claims.claim_next(queue=queue, reviewer=a) is not None
    assert claims.claim_next(queue=queue, reviewer=b) is not None
    assert claims.claim_next(queue=queue, reviewer=c) is None
    assert sorted(Reservation.objects.values_list("slot", flat=True)) == [1, 2]


def test_a_reviewer_gets_their_unfinished_item_back_before_a_new_one(app):
    queue = make_queue(app, items=3)
    (a,) = reviewers(app, 1)

    first = claims.claim_next(queue=queue, reviewer=a)
    again = claims.claim_next(queue=queue, reviewer=a)
    claims.complete_item(item=first.item, reviewer=a)
    after = claims.claim_next(queue=queue, reviewer=a)

    assert again.pk == first.pk
    assert after.item.position == 1


def test_an_expired_reservation_frees_its_slot_for_another_reviewer(app):
    queue = make_queue(app, items=1, overlap=1)
    a, b = reviewers(app, 2)
    now = timezone.now()
    held = claims.claim_next(queue=queue, reviewer=a, now=now)

    assert claims.claim_next(queue=queue, reviewer=b, now=now + timedelta(minutes=29)) is None
    taken = claims.claim_next(
        queue=queue, reviewer=b, now=now + claims.RESERVATION_TIME + timedelta(seconds=1)
    )

    assert taken.item_id == held.item_id and taken.reviewer == b
    assert Reservation.objects.count() == 1


def test_a_submitted_review_keeps_its_slot_for_ever(app):
    queue = make_queue(app, items=1, overlap=1)
    a, b = reviewers(app, 2)
    now = timezone.now()
    held = claims.claim_next(queue=queue, reviewer=a, now=now)
    claims.complete_item(item=held.item, reviewer=a, now=now)

    assert claims.claim_next(queue=queue, reviewer=b, now=now + timedelta(days=2)) is None


def test_a_reviewer_whose_slot_was_taken_over_cannot_submit_but_their_draft_stays(app):
    queue = make_queue(app, items=1, overlap=1)
    a, b = reviewers(app, 2)
    now = timezone.now()
    held = claims.claim_next(queue=queue, reviewer=a, now=now)
    claims.save_draft(item=held.item, reviewer=a, data={"comment": "half a thought"})
    claims.claim_next(queue=queue, reviewer=b, now=now + timedelta(hours=1))

    with pytest.raises(services.ValidationError):
        claims.complete_item(item=held.item, reviewer=a, now=now + timedelta(hours=1))

    assert held.item.drafts.get(reviewer=a).data == {"comment": "half a thought"}


def test_round_robin_gives_item_i_to_reviewers_i_to_i_plus_n_minus_1(app):
    users = reviewers(app, 3)
    queue = make_queue(app, items=6, overlap=2, assignment="round_robin", reviewers=users)

    got = {}
    for user in users:
        while (reservation := claims.claim_next(queue=queue, reviewer=user)) is not None:
            claims.complete_item(item=reservation.item, reviewer=user)
            got.setdefault(user.email, []).append(reservation.item.position)

    # Reviewer r (by id) takes items whose position ≡ r or r-1 (mod 3).
    assert got == {
        users[0].email: [0, 2, 3, 5],
        users[1].email: [0, 1, 3, 4],
        users[2].email: [1, 2, 4, 5],
    }


def test_named_queues_are_for_their_reviewers_and_open_ones_for_anyone_who_may_query(
    app, querier, group_querier, viewer
):
    named = make_queue(app, name="named", assignment="named", reviewers=[querier])
    open_ = make_queue(app, name="open", assignment="open")

    assert services.may_review(queue=named, user=querier)
    assert not services.may_review(queue=named, user=group_querier)
    assert services.may_review(queue=open_, user=group_querier)
    assert not services.may_review(queue=open_, user=viewer)
    assert {q.name for q in services.queues_for_reviewer(querier)} == {"named", "open"}
    assert {q.name for q in services.queues_for_reviewer(group_querier)} == {"open"}
    assert services.queues_for_reviewer(viewer) == []


def test_reviewer_progress_counts_what_they_did_and_what_they_could_still_get(app):
    queue = make_queue(app, items=3, overlap=1)
    a, b = reviewers(app, 2)
    done = claims.claim_next(queue=queue, reviewer=a)
    claims.complete_item(item=done.item, reviewer=a)
    claims.claim_next(queue=queue, reviewer=b)

    mine = progress.reviewer_progress(queue=queue, user=a)

    # One done, one still open; the third is reserved by b.
    assert (mine.done, mine.total) == (1, 2)


def test_next_skips_ahead_keeping_the_skipped_item_and_wraps_round_at_the_end(app):
    queue = make_queue(app, items=3)
    (a,) = reviewers(app, 1)
    first = claims.claim_next(queue=queue, reviewer=a)

    skipped_to = claims.claim_next(queue=queue, reviewer=a, after=first.item)
    last = claims.claim_next(queue=queue, reviewer=a, after=skipped_to.item)
    wrapped = claims.claim_next(queue=queue, reviewer=a, after=last.item)

    assert [r.item.position for r in (first, skipped_to, last, wrapped)] == [0, 1, 2, 0]
    assert Reservation.objects.filter(reviewer=a, done_at__isnull=True).count() == 3
