"""When the instructions change: how many of a queue's labels were made under each version, and
re-queueing the items labelled under an earlier one."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from reviewapp.catalog.models import ReviewInstructions
from reviewapp.feedback.models import Assessment
from reviewapp.feedback.services import record_feedback
from reviewapp.queues import claims, services
from reviewapp.queues.models import QueueEvent, Reservation
from tests import factories
from tests.queues.helpers import queue_of


def label(queue, request, reviewer, rating):
    record_feedback(request=request, reviewer=reviewer, changes={"rating": rating}, queue=queue)
    claims.complete_item(item=queue.items.get(request=request), reviewer=reviewer)


def publish(app, version):
    return ReviewInstructions.objects.create(app=app, version=version, markdown=f"Version {version}")


def counts(queue):
    return [(row.version, row.labels, row.current) for row in services.labels_by_instructions(queue=queue)]


@pytest.fixture
def requests_(app):
    return [factories.make_request(app, question=f"Q{i}") for i in range(3)]


def test_labels_are_counted_by_the_instructions_they_were_made_under(
    app, manager, querier, group_querier, requests_
):
    queue = queue_of(requests_, overlap=2)
    label(queue, requests_[0], querier, "positive")  # before any instructions
    publish(app, 1)
    label(queue, requests_[0], group_querier, "negative")
    label(queue, requests_[1], querier, "positive")
    publish(app, 2)
    label(queue, requests_[2], querier, "negative")

    assert counts(queue) == [(2, 1, True), (1, 2, False), (None, 1, False)]


def test_requeue_gives_fresh_slots_to_the_labels_of_that_version_and_keeps_the_feedback(
    app, manager, querier, group_querier, requests_
):
    queue = queue_of(requests_, overlap=1)
    publish(app, 1)
    label(queue, requests_[0], querier, "positive")
    label(queue, requests_[1], group_querier, "negative")
    publish(app, 2)
    label(queue, requests_[2], querier, "negative")

    requeued = services.requeue_labelled_under(queue=queue, version=1, actor=manager)

    assert requeued == 2
    assert counts(queue) == [(2, 1, True)]
    assert list(Reservation.objects.values_list("item__request", flat=True)) == [requests_[2].pk]
    assert Assessment.objects.count() == 3  # the earlier feedback stays in the history
    event = QueueEvent.objects.get(action="requeued")
    assert (event.actor, event.changes["version"], event.changes["current"], event.changes["count"]) == (
        manager,
        1,
        2,
        2,
    )
    assert sorted((r["request_id"], r["reviewer"]) for r in event.changes["reviews"]) == sorted(
        [(str(requests_[0].pk), querier.email), (str(requests_[1].pk), group_querier.email)]
    )
    # The items are handed out again, and labelling them now counts under v2, even a reviewer who
    # confirms their label unchanged (which writes no new feedback row).
    again = claims.claim_next(queue=queue, reviewer=querier)
    assert again.item.request == requests_[0]
    claims.submit_review(item=again.item, reviewer=querier)
    assert Assessment.objects.filter(request=requests_[0]).count() == 1
    assert counts(queue) == [(2, 2, True)]


def test_a_label_changed_later_counts_under_the_version_it_was_changed_under(app, querier, requests_):
    queue = queue_of(requests_[:1])
    publish(app, 1)
    label(queue, requests_[0], querier, "positive")
    ReviewInstructions.objects.filter(version=1).update(created_at=timezone.now() - timedelta(days=1))
    publish(app, 2)

    record_feedback(request=requests_[0], reviewer=querier, changes={"rating": "negative"})

    assert counts(queue) == [(2, 1, True)]


@pytest.mark.parametrize("version", [2, 3, 0, True])
def test_only_an_earlier_version_can_be_requeued(app, manager, querier, requests_, version):
    queue = queue_of(requests_[:1])
    publish(app, 1)
    label(queue, requests_[0], querier, "positive")
    publish(app, 2)

    with pytest.raises(ValidationError) as error:
        services.requeue_labelled_under(queue=queue, version=version, actor=manager)

    assert error.value.message_dict == {
        "version": ["not an earlier instructions version of this app (the current version is 2)"]
    }
    assert Reservation.objects.done().count() == 1
    assert not QueueEvent.objects.filter(action="requeued").exists()
