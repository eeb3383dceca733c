"""How far a queue is, for its owner and for each reviewer, and how much the reviewers agree."""

from dataclasses import dataclass

from django.db import models
from django.db.models import Case, Count, Q, Sum, Value, When
from django.db.models.functions import Least
from django.utils import timezone

from reviewapp.accounts.models import User
from reviewapp.feedback.models import Assessment
from reviewapp.requestlog import passages as passage_rules

from . import agreement as agreement_lib
from .claims import gold_ahead, open_items_for
from .models import Reservation, ReviewQueue


@dataclass
class ReviewerProgress:
    email: str
    done: int
    reserved: int


@dataclass
class Progress:
    items: int
    reviews_needed: int
    reviews_done: int
    items_complete: int
    reviewers: list[ReviewerProgress]


def queue_progress(*, queue: ReviewQueue, now=None) -> Progress:
    """The owner's figures. Gold items (known answers mixed in) are left out of the counts, and an
    item counts at most `overlap` reviews done (lowering the overlap keeps the reviews beyond it)."""
    now = now or timezone.now()
    done = Q(reservations__done_at__isnull=False)
    counted = queue.items.filter(gold=False).annotate(done=Count("reservations", filter=done))
    items = counted.count()
    complete = counted.filter(done__gte=queue.overlap).count()
    reviews_done = counted.aggregate(
        n=Sum(Least("done", Value(queue.overlap)), default=0),
    )["n"]
    rows = (
        Reservation.objects.filter(item__queue=queue, item__gold=False)
        .values("reviewer__email")
        .annotate(
            done=Count("id", filter=Q(done_at__isnull=False)),
            reserved=Count("id", filter=Q(done_at__isnull=True, expires_at__gt=now)),
        )
        .order_by("reviewer__email")
    )
    reviewers = [ReviewerProgress(r["reviewer__email"], r["done"], r["reserved"]) for r in rows]
    named = set(queue.reviewers.values_list("email", flat=True)) - {r.email for r in reviewers}
    reviewers += [ReviewerProgress(email, 0, 0) for email in sorted(named)]
    return Progress(
        items=items,
        reviews_needed=items * queue.overlap,
        reviews_done=reviews_done,
        items_complete=complete,
        reviewers=reviewers,
    )


class ItemStatus(models.TextChoices):
    WAITING = "waiting", "Waiting"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"


def queue_items(
    *,
    queue: ReviewQueue,
    status: str = "",
    reviewer: str = "",
    disagreement: bool = False,
    now=None,
):
    """The queue's items in queue order, each with `done`, `held` and `status`, filtered.

    Waiting: nobody has it; in progress: reviewed or reserved, but fewer than `overlap` reviews
    done; done: `overlap` reviews done. `reviewer` (an email) keeps the items they reviewed or
    hold; `disagreement` the items whose submitted reviews disagree.
    """
    now = now or timezone.now()
    done = Count("reservations", filter=Q(reservations__done_at__isnull=False))
    held = Count(
        "reservations", filter=Q(reservations__done_at__isnull=True, reservations__expires_at__gt=now)
    )
    items = queue.items.annotate(done=done, held=held).annotate(
        status=Case(
            When(done__gte=queue.overlap, then=Value(ItemStatus.DONE)),
            When(Q(done__gt=0) | Q(held__gt=0), then=Value(ItemStatus.IN_PROGRESS)),
            default=Value(ItemStatus.WAITING),
        )
    )
    if status:
        items = items.filter(status=status)
    if reviewer:
        theirs = Reservation.objects.filter(item__queue=queue, reviewer__email__iexact=reviewer).live(now)
        items = items.filter(pk__in=theirs.values("item_id"))
    if disagreement:
        items = items.filter(pk__in=[d.item.pk for d in queue_agreement(queue=queue).disagreements])
    return items.select_related("request").order_by("position", "id")


@dataclass
class ReviewerQueueProgress:
    """One reviewer's view of a queue: done / (done + what they could still be handed)."""

    queue: ReviewQueue
    done: int
    total: int

    @property
    def remaining(self) -> int:
        return self.total - self.done


def reviewer_progress(*, queue: ReviewQueue, user: User, now=None) -> ReviewerQueueProgress:
    mine = Reservation.objects.filter(item__queue=queue, reviewer=user)
    done = mine.done().count()
    pending = mine.unfinished().count()
    available = open_items_for(queue=queue, user=user, now=now).count()
    # The gold items still to come count from the start: one handed out changes no total.
    gold = gold_ahead(queue=queue, reviewer=user, available=available)
    return ReviewerQueueProgress(queue=queue, done=done, total=done + pending + available + gold)


@dataclass
class QueueAgreement:
    rating: agreement_lib.Agreement
    chunks: agreement_lib.Agreement
    disagreements: list[agreement_lib.Disagreement]


def queue_agreement(*, queue: ReviewQueue) -> QueueAgreement:
    """Agreement among the submitted reviews of the queue, from each reviewer's effective feedback."""
    submitted = list(
        Reservation.objects.filter(item__queue=queue)
        .done()
        .values_list("item_id", "item__request_id", "reviewer_id", "reviewer__email")
    )
    by_pair = {
        (request_id, reviewer_id): (item_id, email) for item_id, request_id, reviewer_id, email in submitted
    }
    assessments = Assessment.objects.filter(
        request_id__in={p[0] for p in by_pair}, reviewer_id__in={p[1] for p in by_pair}
    ).latest_per_reviewer()
    rating: dict = {}
    chunks: dict = {}
    reviews: dict = {}
    rows = assessments.values(
        "request_id", "reviewer_id", "rating", "retrieval_assessments", "request__chunks"
    )
    for row in rows:
        key = (row["request_id"], row["reviewer_id"])
        if key not in by_pair:
            continue
        item_id, email = by_pair[key]
        review = reviews.setdefault(item_id, {}).setdefault(email, {"rating": row["rating"], "chunks": {}})
        if row["rating"]:
            rating.setdefault(item_id, {})[email] = row["rating"]
        rated = passage_rules.ratings(
            row["retrieval_assessments"], row["request__chunks"], queue.app.context_span
        )
        for position, chunk in rated.items():
            chunks.setdefault((item_id, position), {})[email] = chunk["rating"]
            review["chunks"][position] = chunk["rating"]
    found = agreement_lib.disagreements(reviews)
    items = queue.items.select_related("request").in_bulk([d.item for d in found])
    for d in found:
        d.item = items[d.item]
    return QueueAgreement(
        rating=agreement_lib.agreement(rating), chunks=agreement_lib.agreement(chunks), disagreements=found
    )
