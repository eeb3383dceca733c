"""Gold items mixed into each reviewer's stream: at the queue's rate, never twice, never one they
labelled before, and indistinguishable from any other item on the review page."""

import re

from reviewapp.queues import claims
from reviewapp.queues.models import QueueItem, Reservation
from reviewapp.reliability import services
from tests import factories
from tests.queues.helpers import queue_of
from tests.reliability.helpers import reviewers


def gold_requests(app, by, count, **request):
    made = [factories.make_request(app, question=f"Known {i}", **request) for i in range(count)]
    for r in made:
        factories.make_assessment(r, by, "positive")
    services.mark_gold(app=app, request_ids=[str(r.request_id) for r in made], by=by)
    return made


def test_gold_is_mixed_in_at_the_queues_rate_over_a_thousand_items(app, manager):
    queue = queue_of([factories.make_request(app, question=f"Q{i}") for i in range(1000)])
    queue.gold_rate = 0.05
    queue.save(update_fields=["gold_rate"])
    gold_requests(app, manager, 100)
    (reviewer,) = reviewers(app, 1)

    for _ in range(1000):
        reservation = claims.claim_next(queue=queue, reviewer=reviewer)
        claims.complete_item(item=reservation.item, reviewer=reviewer)

    handed = Reservation.objects.filter(reviewer=reviewer).order_by("claimed_at", "id")
    gold = handed.filter(item__gold=True).count()
    # Each claim is gold with probability 0.05, so of 1,000 items Binomial(1000, 0.05): mean 50,
    # sd √(1000 · 0.05 · 0.95) = 6.9. ±23 is ±3.3 sd: a secret for which the draws fall outside
    # has a chance of 1 in 1,000. (The draws are fixed by the test settings' secret: this run
    # always hands the same number.)
    assert 50 - 23 <= gold <= 50 + 23
    assert handed.count() == 1000
    assert handed.filter(item__gold=False).count() == 1000 - gold
    # Ordinary items keep their order: the gold ones only stand in between.
    positions = list(handed.filter(item__gold=False).values_list("item__position", flat=True))
    assert positions == list(range(1000 - gold))


def test_no_gold_without_a_rate_and_none_in_pairwise_queues(app, manager):
    queue = queue_of([factories.make_request(app) for _ in range(30)])
    gold_requests(app, manager, 5)
    (reviewer,) = reviewers(app, 1)

    for _ in range(30):
        claims.complete_item(item=claims.claim_next(queue=queue, reviewer=reviewer).item, reviewer=reviewer)

    assert claims.claim_next(queue=queue, reviewer=reviewer) is None
    assert not QueueItem.objects.filter(gold=True).exists()


def test_a_gold_item_is_never_handed_twice_nor_one_the_reviewer_labelled_before(app, manager):
    (reviewer, other) = reviewers(app, 2)
    known = gold_requests(app, manager, 3)
    # The reviewer labelled this one before it was gold: it measures nothing about them.
    factories.make_assessment(known[0], reviewer, "negative")
    first = queue_of([factories.make_request(app) for _ in range(40)], name="First", overlap=2)
    second = queue_of([factories.make_request(app) for _ in range(40)], name="Second")
    for queue in (first, second):
        queue.gold_rate = 0.5
        queue.save(update_fields=["gold_rate"])

    for queue in (first, second):
        while (reservation := claims.claim_next(queue=queue, reviewer=reviewer)) is not None:
            claims.complete_item(item=reservation.item, reviewer=reviewer)

    handed = list(
        Reservation.objects.filter(reviewer=reviewer, item__gold=True).values_list(
            "item__request_id", flat=True
        )
    )
    assert sorted(map(str, handed)) == sorted(str(r.request_id) for r in known[1:])
    # Another reviewer can still be handed every one of them, in the same queue items.
    while (reservation := claims.claim_next(queue=first, reviewer=other)) is not None:
        claims.complete_item(item=reservation.item, reviewer=other)
    assert Reservation.objects.filter(reviewer=other, item__gold=True).count() == 3
    assert QueueItem.objects.filter(queue=first, gold=True).count() == 3


def test_a_gold_item_is_not_handed_by_hand_or_to_a_reviewer_who_did_not_draw_it(app, manager, as_user):
    (reviewer, other) = reviewers(app, 2)
    gold_requests(app, manager, 1)
    queue = queue_of([factories.make_request(app) for _ in range(10)])
    queue.gold_rate = 0.5
    queue.save(update_fields=["gold_rate"])
    while not QueueItem.objects.filter(gold=True).exists():
        claims.complete_item(item=claims.claim_next(queue=queue, reviewer=reviewer).item, reviewer=reviewer)
    gold = QueueItem.objects.get(gold=True)

    assert not claims.may_claim(queue=queue, reviewer=other, item=gold)
    assert claims.claim_item(item=gold, reviewer=other) is None
    response = as_user(other).post(f"/queues/{queue.pk}/review/{gold.pk}/")
    assert response.status_code == 409


def _normalised(html: str, item, csrf: str) -> str:
    # Only where the item's id stands: a bare "3" replaced everywhere would also change other numbers.
    for at in ('data-item-id="{}"', "/review/{}/", 'name="after" value="{}"'):
        html = html.replace(at.format(item.pk), at.format("ITEM"))
    html = html.replace(str(item.request_id), "REQUEST")
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "CSRF", html)
    return re.sub(r'"x-csrftoken": "[^"]+"', "CSRF", html).replace(csrf, "CSRF")


def test_a_gold_item_looks_exactly_like_any_other_on_the_review_page(app, manager, as_user):
    (reviewer,) = reviewers(app, 1)
    ordinary_chunks = {"question": "Same question", "response": "Same answer"}
    # Gold items carry other people's feedback (their key); the page must not show it, nor anything else.
    others = reviewers(app, 2, prefix="earlier")
    known = factories.make_request(app, **ordinary_chunks)
    for user in others:
        factories.make_assessment(known, user, "negative", comment="the key's own reviewer")
    services.mark_gold(app=app, request_ids=[str(known.request_id)], by=manager)
    queue = queue_of([factories.make_request(app, **ordinary_chunks) for _ in range(20)])
    queue.gold_rate = 0.5
    queue.save(update_fields=["gold_rate"])
    held = []
    while len({r.item.gold for r in held}) < 2:
        held.append(claims.claim_next(queue=queue, reviewer=reviewer))
        claims.complete_item(item=held[-1].item, reviewer=reviewer)
    gold = next(r.item for r in held if r.item.gold)
    ordinary = next(r.item for r in held if not r.item.gold)
    # Seen again the same way: both held (their submissions undone), both pages read in the same state.
    Reservation.objects.filter(item__in=[gold, ordinary], reviewer=reviewer).update(done_at=None)
    Reservation.objects.filter(reviewer=reviewer).exclude(item__in=[gold, ordinary]).delete()
    client = as_user(reviewer)

    pages = {}
    for item in (gold, ordinary):
        response = client.get(f"/queues/{queue.pk}/review/{item.pk}/")
        assert response.status_code == 200
        pages[item.gold] = _normalised(response.content.decode(), item, response.cookies["csrftoken"].value)

    assert "the key&#x27;s own reviewer" not in pages[True] and "earlier0@" not in pages[True]
    gold_lines, ordinary_lines = pages[True].splitlines(), pages[False].splitlines()
    differing = [(g, o) for g, o in zip(gold_lines, ordinary_lines, strict=True) if g != o]
    # Only the reviewer's own path differs: which item comes before and after which.
    assert differing and all(
        ("Previous" in g and "Previous" in o) or ("Next" in g and "Next" in o) for g, o in differing
    ), differing


def test_the_reviewers_own_progress_never_moves_when_a_gold_item_is_handed(app, manager):
    from reviewapp.queues import progress

    queue = queue_of([factories.make_request(app, question=f"Q{i}") for i in range(120)])
    queue.gold_rate = 0.2
    queue.save(update_fields=["gold_rate"])
    gold_requests(app, manager, 60)
    (reviewer,) = reviewers(app, 1)

    seen = [progress.reviewer_progress(queue=queue, user=reviewer)]
    gold_handed = 0
    while (reservation := claims.claim_next(queue=queue, reviewer=reviewer)) is not None:
        on_screen = progress.reviewer_progress(queue=queue, user=reviewer)
        # Taking the next item, gold or not, changes nothing the reviewer sees.
        assert (on_screen.done, on_screen.total) == (seen[-1].done, seen[-1].total)
        gold_handed += reservation.item.gold
        claims.complete_item(item=reservation.item, reviewer=reviewer)
        seen.append(progress.reviewer_progress(queue=queue, user=reviewer))

    # Every item, gold included, was counted in the total shown before the first one.
    assert 10 <= gold_handed <= 40  # Binomial-ish around 0.2 / 0.8 · 120 = 30
    assert seen[0].total == 120 + gold_handed
    assert [p.done for p in seen] == list(range(len(seen)))
    assert {p.total for p in seen} == {120 + gold_handed}
