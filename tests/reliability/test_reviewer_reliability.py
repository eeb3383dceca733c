"""Each reviewer of a queue: gold accuracy, agreement with the consensus, Dawid–Skene, the flag;
on the queue page and over the API."""

import random

import pytest

from reviewapp.queues.models import Reservation
from reviewapp.queues.progress import queue_progress
from reviewapp.reliability import services
from tests import factories
from tests.queues.helpers import queue_of
from tests.reliability.helpers import relevance, review_all, reviewers


def set_gold(queue, rate, threshold=None):
    queue.gold_rate, queue.gold_accuracy_threshold = rate, threshold
    queue.save(update_fields=["gold_rate", "gold_accuracy_threshold"])


def test_gold_accuracy_counts_each_thumbs_and_passage_exactly(app, manager):
    # Key: thumbs up; passage 1 relevant, passage 2 not.
    known = [factories.make_request(app, question=f"Known {i}") for i in range(3)]
    for request in known:
        factories.make_assessment(request, manager, "positive", retrieval_assessments=relevance(True, False))
    services.mark_gold(app=app, request_ids=[str(r.request_id) for r in known], by=manager)
    queue = queue_of([factories.make_request(app) for _ in range(30)])
    set_gold(queue, 0.5, threshold=0.75)
    good, sloppy = reviewers(app, 2)
    answers = {
        # Right on every gold thumbs and passage.
        good: lambda item: ("positive", relevance(True, False)),
        # Thumbs down on gold (wrong), passage 1 right, passage 2 wrong; passage 2 unrated elsewhere.
        sloppy: lambda item: ("negative", relevance(True, True)),
    }

    review_all(queue, [good, sloppy], lambda user, item: answers[user](item))

    rows = {row.email: row for row in services.queue_reliability(queue=queue).reviewers}
    handed = {
        user: Reservation.objects.filter(reviewer=user, item__gold=True, done_at__isnull=False).count()
        for user in (good, sloppy)
    }
    assert handed[good] == 3 and handed[sloppy] == 3  # every gold item, to each, once
    assert (rows[good.email].gold_thumbs.correct, rows[good.email].gold_thumbs.total) == (3, 3)
    assert (rows[good.email].gold_passages.correct, rows[good.email].gold_passages.total) == (6, 6)
    assert (rows[sloppy.email].gold_thumbs.correct, rows[sloppy.email].gold_thumbs.total) == (0, 3)
    assert (rows[sloppy.email].gold_passages.correct, rows[sloppy.email].gold_passages.total) == (3, 6)
    assert not rows[good.email].flagged and rows[sloppy.email].flagged
    # Gold items are not the consensus's: only the 30 ordinary items are, each done by one reviewer.
    assert rows[good.email].consensus.total == rows[sloppy.email].consensus.total == 0


def test_a_reviewer_whose_gold_is_unmarked_is_no_longer_measured_on_it(app, manager):
    known = factories.make_request(app, question="Known")
    factories.make_assessment(known, manager, "positive")
    services.mark_gold(app=app, request_ids=[str(known.request_id)], by=manager)
    queue = queue_of([factories.make_request(app) for _ in range(10)])
    set_gold(queue, 0.5)
    (reviewer,) = reviewers(app, 1)
    review_all(queue, [reviewer], lambda user, item: ("negative", []))
    assert services.queue_reliability(queue=queue).reviewers[0].gold_thumbs.total == 1

    services.unmark_gold(app=app, request_ids=[str(known.request_id)])

    assert services.queue_reliability(queue=queue).reviewers[0].gold_thumbs.total == 0


@pytest.fixture
def simulated_queue(app, manager):
    """5 reviewers, 200 items with 3 reviewers each, 20 gold requests at a 10% rate. reviewer0..3 are
    right 95% of the time; reviewer4 answers at random."""
    rng = random.Random(3)
    truth = {}
    known = [factories.make_request(app, question=f"Known {i}") for i in range(20)]
    for request in known:
        truth[request.request_id] = rng.choice(["positive", "negative"])
        factories.make_assessment(request, manager, truth[request.request_id])
    services.mark_gold(app=app, request_ids=[str(r.request_id) for r in known], by=manager)
    requests = [factories.make_request(app, question=f"Q{i}") for i in range(200)]
    for request in requests:
        truth[request.request_id] = "positive" if rng.random() < 0.6 else "negative"
    queue = queue_of(requests, overlap=3, blind=True)
    set_gold(queue, 0.1, threshold=0.8)
    users = reviewers(app, 5)
    careless = users[4]

    def answer(user, item):
        right = truth[item.request_id]
        if user == careless:
            return rng.choice(["positive", "negative"]), []
        wrong = "negative" if right == "positive" else "positive"
        return (right if rng.random() < 0.95 else wrong), []

    review_all(queue, users, answer)
    return queue, users, careless


def test_a_careless_reviewer_is_least_reliable_least_in_consensus_and_flagged(simulated_queue):
    queue, users, careless = simulated_queue

    result = services.queue_reliability(queue=queue)
    rows = {row.email: row for row in result.reviewers}

    assert result.overlapping_items == 200
    assert (
        Reservation.objects.filter(item__queue=queue, item__gold=False, done_at__isnull=False).count() == 600
    )
    reliability = {email: row.dawid_skene.reliability for email, row in rows.items()}
    assert min(reliability, key=reliability.get) == careless.email
    assert (
        reliability[careless.email]
        < 0.3
        < 0.7
        < min(v for e, v in reliability.items() if e != careless.email)
    )
    consensus = {email: row.consensus.rate for email, row in rows.items()}
    assert min(consensus, key=consensus.get) == careless.email
    assert rows[careless.email].flagged
    assert rows[careless.email].gold_thumbs.total >= 1 and rows[careless.email].gold_thumbs.rate < 0.8
    assert [email for email, row in rows.items() if row.flagged] == [careless.email]
    # Each gold item at most once per reviewer; the consensus counts only ordinary items.
    for user in users:
        gold = Reservation.objects.filter(reviewer=user, item__gold=True)
        assert (
            gold.count()
            == gold.values("item__request").distinct().count()
            == rows[user.email].gold_thumbs.total
        )
        assert (
            rows[user.email].consensus.total
            == Reservation.objects.filter(reviewer=user, item__queue=queue, item__gold=False).count()
        )


def test_the_queue_page_shows_each_reviewer_flags_and_explains_dawid_skene(simulated_queue, manager, as_user):
    queue, users, careless = simulated_queue

    response = as_user(manager).get(f"/apps/{queue.app.slug}/queues/{queue.pk}/")

    html = response.content.decode()
    assert response.status_code == 200
    # A blind queue hides names from reviewers, not from the managers who run it.
    for user in users:
        assert f'data-testid="reliability-row" data-reviewer="{user.email}"' in html
    assert html.count('data-testid="reviewer-flagged"') == 1
    assert f'data-reviewer="{careless.email}" data-flagged="true"' in html
    assert "Dawid–Skene estimates, from the 200 items several reviewers rated" in html


def test_the_api_gives_each_reviewers_figures(app, manager, as_user):
    known = factories.make_request(app, question="Known")
    factories.make_assessment(known, manager, "positive", retrieval_assessments=relevance(True))
    services.mark_gold(app=app, request_ids=[str(known.request_id)], by=manager)
    queue = queue_of([factories.make_request(app) for _ in range(4)], overlap=2)
    set_gold(queue, 0.5, threshold=0.9)
    a, b = reviewers(app, 2)
    review_all(queue, [a, b], lambda user, item: ("positive" if user == a else "negative", relevance(False)))

    response = as_user(manager).get(f"/api/v1/apps/{app.slug}/review-queues/{queue.pk}/reviewers")

    assert response.status_code == 200
    body = response.json()
    assert (body["queue"], body["gold_rate"], body["gold_accuracy_threshold"]) == (queue.pk, 0.5, 0.9)
    assert body["overlapping_items"] == 4 and body["gold_items"] == 1
    by = {row["email"]: row for row in body["reviewers"]}
    assert by[a.email]["gold_thumbs"] == {"correct": 1, "total": 1, "rate": 1.0}
    assert by[a.email]["gold_passages"] == {"correct": 0, "total": 1, "rate": 0.0}
    assert by[b.email]["gold_thumbs"] == {"correct": 0, "total": 1, "rate": 0.0}
    assert by[a.email]["flagged"] and by[b.email]["flagged"]
    # Two reviewers who always disagree: no item has a majority.
    assert by[a.email]["consensus"] == {"correct": 0, "total": 0, "rate": None}
    progress = {row.email: (row.done, row.reserved) for row in queue_progress(queue=queue).reviewers}
    assert (by[a.email]["done"], by[a.email]["reserved"]) == progress[a.email]
    assert by[a.email]["dawid_skene"]["labels"] == 4
    assert set(by[a.email]["dawid_skene"]["confusion"]) == {"negative", "positive"}


def test_only_managers_see_reviewer_reliability(app, manager, querier, viewer, outsider, as_user):
    queue = queue_of([factories.make_request(app)])
    url = f"/api/v1/apps/{app.slug}/review-queues/{queue.pk}/reviewers"
    other = queue_of([factories.make_request(factories.make_app("elsewhere"))])

    assert as_user(outsider).get(url).status_code == 404
    assert as_user(viewer).get(url).status_code == 403
    assert as_user(querier).get(url).status_code == 403
    assert as_user(None).get(url).status_code in (401, 403)
    assert as_user(manager).get(url).status_code == 200
    # Another app's queue under this app's address does not exist.
    assert (
        as_user(manager).get(f"/api/v1/apps/{app.slug}/review-queues/{other.pk}/reviewers").status_code == 404
    )
    assert "detail" in as_user(querier).get(url).json()
