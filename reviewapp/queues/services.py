"""Review-queue workflows: build queues, hand items to reviewers, record that they are done.

Every function takes keyword-only arguments and either does all it was asked or raises
`django.core.exceptions.ValidationError` naming the field that is wrong (the API turns that
into a 400 with the same body), leaving nothing half-done.
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Q
from django.db.models.functions import Mod
from django.utils import timezone

from reviewapp.accounts.models import User
from reviewapp.catalog.models import App, Level
from reviewapp.feedback.models import Assessment
from reviewapp.feedback.panel import effective_for
from reviewapp.feedback.services import record
from reviewapp.requestlog.models import Request

from . import agreement as agreement_lib
from .models import Draft, QueueItem, Reservation, ReviewQueue

RESERVATION_TIME = timedelta(minutes=30)
# Reviewers per item; claiming an item tries each slot, so the bound also bounds the work.
MAX_OVERLAP = 100
# Candidate items looked at per claim; more than enough to get past those lost to a race.
_CLAIM_CANDIDATES = 20
_ID_CHUNK = 1000


@dataclass
class AddResult:
    """What `add_items` did: ids added, and ids that were already in the queue (a no-op)."""

    added: list[uuid.UUID] = field(default_factory=list)
    already_in_queue: list[uuid.UUID] = field(default_factory=list)


def _parse_request_ids(request_ids: Iterable) -> list[uuid.UUID]:
    parsed: list[uuid.UUID] = []
    bad: list[str] = []
    seen: set[uuid.UUID] = set()
    for raw in request_ids:
        try:
            value = raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw).strip())
        except (ValueError, AttributeError, TypeError):
            bad.append(str(raw))
            continue
        if value not in seen:
            seen.add(value)
            parsed.append(value)
    if bad:
        raise ValidationError({"request_ids": [f"not a request id: {', '.join(bad[:20])}"]})
    return parsed


def _check_requests_belong(app: App, ids: list[uuid.UUID]) -> None:
    found: set[uuid.UUID] = set()
    for start in range(0, len(ids), _ID_CHUNK):
        chunk = ids[start : start + _ID_CHUNK]
        found.update(
            Request.objects.filter(app=app, request_id__in=chunk).values_list("request_id", flat=True)
        )
    missing = [str(i) for i in ids if i not in found]
    if missing:
        shown = ", ".join(missing[:20]) + (f" and {len(missing) - 20} more" if len(missing) > 20 else "")
        raise ValidationError(
            {"request_ids": [f"no such request in app {app.slug!r}: {shown}"]},
        )


@transaction.atomic
def add_items(*, queue: ReviewQueue, request_ids: Iterable) -> AddResult:
    """Add requests of the queue's app to the queue, in the order given.

    A request already in the queue is left where it is and reported in `already_in_queue`.
    Ids that are malformed, unknown or of another app reject the whole call.
    """
    ids = _parse_request_ids(request_ids)
    _check_requests_belong(queue.app, ids)
    # Lock the queue row so concurrent adds get consecutive positions (round-robin uses them).
    ReviewQueue.objects.select_for_update().filter(pk=queue.pk).first()
    present: set[uuid.UUID] = set()
    for start in range(0, len(ids), _ID_CHUNK):
        chunk = ids[start : start + _ID_CHUNK]
        present.update(queue.items.filter(request_id__in=chunk).values_list("request_id", flat=True))
    result = AddResult()
    last = queue.items.aggregate(m=Max("position"))["m"]
    next_position = 0 if last is None else last + 1
    now = timezone.now()
    new_items = []
    for request_id in ids:
        if request_id in present:
            result.already_in_queue.append(request_id)
            continue
        new_items.append(QueueItem(queue=queue, request_id=request_id, position=next_position, added_at=now))
        next_position += 1
        result.added.append(request_id)
    QueueItem.objects.bulk_create(new_items, batch_size=_ID_CHUNK)
    return result


def _check_reviewers(app: App, reviewers: list[User]) -> None:
    lacking = [user.email for user in reviewers if app.level_for(user) < Level.CAN_QUERY]
    if lacking:
        raise ValidationError(
            {"reviewers": [f"needs CAN_QUERY on the app to review: {', '.join(sorted(lacking))}"]}
        )


@transaction.atomic
def create_queue(
    *,
    app: App,
    name: str,
    created_by: User | None,
    instructions: str = "",
    overlap: int = 1,
    assignment: str = ReviewQueue.Assignment.OPEN,
    blind: bool = False,
    reviewers: Iterable[User] = (),
    request_ids: Iterable = (),
) -> tuple[ReviewQueue, AddResult]:
    """A new queue on `app`, with its reviewers and (optionally) its first items."""
    reviewers = list(dict.fromkeys(reviewers))
    name = (name or "").strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["a queue needs a name"]
    elif len(name) > 200:
        errors["name"] = ["at most 200 characters"]
    elif ReviewQueue.objects.filter(app=app, name=name).exists():
        errors["name"] = [ValidationError(f"this app already has a queue named {name!r}", code="conflict")]
    if not isinstance(overlap, int) or isinstance(overlap, bool) or not 1 <= overlap <= MAX_OVERLAP:
        errors["overlap"] = [f"overlap must be a whole number from 1 to {MAX_OVERLAP}"]
    if assignment not in ReviewQueue.Assignment.values:
        errors["assignment"] = [f"one of {', '.join(ReviewQueue.Assignment.values)}"]
    elif assignment != ReviewQueue.Assignment.OPEN and "overlap" not in errors and len(reviewers) < overlap:
        errors["reviewers"] = [
            f"{assignment} assignment with overlap {overlap} needs at least {overlap} named reviewers"
        ]
    if errors:
        raise ValidationError(errors)
    _check_reviewers(app, reviewers)
    queue = ReviewQueue.objects.create(
        app=app,
        name=name,
        instructions=instructions or "",
        overlap=overlap,
        assignment=assignment,
        blind=blind,
        created_by=created_by,
    )
    queue.reviewers.set(reviewers)
    result = add_items(queue=queue, request_ids=request_ids)
    return queue, result


@transaction.atomic
def add_reviewers(*, queue: ReviewQueue, reviewers: Iterable[User]) -> None:
    reviewers = list(reviewers)
    _check_reviewers(queue.app, reviewers)
    queue.reviewers.add(*reviewers)


# --- who may review, and what ------------------------------------------------------------


def may_review(*, queue: ReviewQueue, user: User) -> bool:
    """Named and round-robin queues: the named reviewers; open queues: anyone with CAN_QUERY."""
    if queue.app.level_for(user) < Level.CAN_QUERY:
        return False
    if queue.assignment == ReviewQueue.Assignment.OPEN:
        return True
    return queue.reviewers.filter(pk=user.pk).exists()


def queues_for_reviewer(user: User) -> list[ReviewQueue]:
    """The queues `user` may review now, newest first."""
    if not user.is_authenticated:
        return []
    apps = App.objects.visible_to(user).filter(level__gte=Level.CAN_QUERY)
    app_ids = list(apps.values_list("id", flat=True))
    return list(
        ReviewQueue.objects.filter(app_id__in=app_ids)
        .filter(Q(assignment=ReviewQueue.Assignment.OPEN) | Q(reviewers=user))
        .select_related("app")
        .distinct()
        .order_by("-created_at", "-id")
    )


def _eligible_items(queue: ReviewQueue, user: User):
    """The queue's items this reviewer may be handed, ignoring how full they are."""
    items = queue.items.all()
    if queue.assignment == ReviewQueue.Assignment.ROUND_ROBIN:
        # Item i goes to reviewers i, i+1, ..., i+N-1 (mod k): reviewer r takes the residues r, r-1, ...
        ids = list(queue.reviewers.order_by("id").values_list("id", flat=True))
        if user.pk not in ids:
            return items.none()
        k, r = len(ids), ids.index(user.pk)
        residues = {(r - j) % k for j in range(min(queue.overlap, k))}
        items = items.annotate(residue=Mod("position", k)).filter(residue__in=residues)
    return items


def open_items_for(*, queue: ReviewQueue, user: User, now=None):
    """Items this reviewer could still be handed: eligible, not theirs yet, a slot free."""
    now = now or timezone.now()
    live = Q(reservations__done_at__isnull=False) | Q(reservations__expires_at__gt=now)
    return (
        _eligible_items(queue, user)
        .exclude(reservations__reviewer=user)
        .annotate(taken=Count("reservations", filter=live))
        .filter(taken__lt=queue.overlap)
        .order_by("position", "id")
    )


def _take_slot(*, item: QueueItem, overlap: int, reviewer: User, now) -> Reservation | None:
    """One of the item's slots for `reviewer`: a free one, or one whose reservation expired.

    The unique (item, slot) constraint and the conditional UPDATE decide races in the
    database, so this holds on PostgreSQL under concurrency and on SQLite alike.
    """
    held = {r.slot: r for r in item.reservations.all()}
    expires = now + RESERVATION_TIME
    for slot in range(1, overlap + 1):
        current = held.get(slot)
        if current is None:
            try:
                with transaction.atomic():
                    return Reservation.objects.create(
                        item=item, slot=slot, reviewer=reviewer, claimed_at=now, expires_at=expires
                    )
            except IntegrityError:
                continue  # someone else took this slot a moment ago
        elif current.done_at is None and current.expires_at <= now and current.reviewer_id != reviewer.pk:
            taken_over = Reservation.objects.filter(
                pk=current.pk, done_at__isnull=True, expires_at__lte=now
            ).update(reviewer=reviewer, claimed_at=now, expires_at=expires)
            if taken_over:
                return Reservation.objects.get(pk=current.pk)
    return None


def held_item(*, queue: ReviewQueue, reviewer: User, after: QueueItem | None = None) -> Reservation | None:
    """The unfinished reservation this reviewer already holds in the queue (past `after` first).

    A read only: showing a page must not reserve or renew anything, so links a browser or a
    prefetcher follows on its own change nothing.
    """
    unfinished = (
        Reservation.objects.filter(item__queue=queue, reviewer=reviewer, done_at__isnull=True)
        .select_related("item")
        .order_by("item__position", "item_id")
    )
    if after is not None:
        past = unfinished.filter(item__position__gt=after.position).first()
        if past is not None:
            return past
    return unfinished.first()


def may_claim(*, queue: ReviewQueue, reviewer: User, item: QueueItem) -> bool:
    """Whether `claim_item` would hand this item to the reviewer now (a read only)."""
    return open_items_for(queue=queue, user=reviewer).filter(pk=item.pk).exists()


@transaction.atomic
def claim_next(
    *, queue: ReviewQueue, reviewer: User, after: QueueItem | None = None, now=None
) -> Reservation | None:
    """The reservation of the item this reviewer should look at next, or None when nothing is left.

    Their own unfinished reservations come first (renewed), then the first open item, in queue
    order. With `after` (skipping ahead with "next"), items past it are tried first, then the
    search wraps round to the start of the queue.
    """
    now = now or timezone.now()
    unfinished = (
        Reservation.objects.filter(item__queue=queue, reviewer=reviewer, done_at__isnull=True)
        .select_related("item")
        .order_by("item__position", "item_id")
    )
    floors = [after.position, None] if after is not None else [None]
    for floor in floors:
        mine = (unfinished if floor is None else unfinished.filter(item__position__gt=floor)).first()
        if mine is not None:
            Reservation.objects.filter(pk=mine.pk).update(expires_at=now + RESERVATION_TIME)
            mine.expires_at = now + RESERVATION_TIME
            return mine
        reservation = _claim_open(queue=queue, reviewer=reviewer, floor=floor, now=now)
        if reservation is not None:
            return reservation
    return None


def _claim_open(*, queue: ReviewQueue, reviewer: User, floor: int | None, now) -> Reservation | None:
    for _attempt in range(3):
        items = open_items_for(queue=queue, user=reviewer, now=now)
        if floor is not None:
            items = items.filter(position__gt=floor)
        candidates = list(items[:_CLAIM_CANDIDATES])
        if not candidates:
            return None
        for item in candidates:
            reservation = _take_slot(item=item, overlap=queue.overlap, reviewer=reviewer, now=now)
            if reservation is not None:
                return reservation
    return None


@transaction.atomic
def claim_item(*, item: QueueItem, reviewer: User, now=None) -> Reservation | None:
    """This reviewer's reservation on `item`, renewed or newly taken; None when the item is full."""
    now = now or timezone.now()
    queue = item.queue
    mine = Reservation.objects.filter(item=item, reviewer=reviewer).first()
    if mine is not None:
        if mine.done_at is None:
            Reservation.objects.filter(pk=mine.pk).update(expires_at=now + RESERVATION_TIME)
            mine.expires_at = now + RESERVATION_TIME
        return mine
    if not _eligible_items(queue, reviewer).filter(pk=item.pk).exists():
        return None
    return _take_slot(item=item, overlap=queue.overlap, reviewer=reviewer, now=now)


@transaction.atomic
def complete_item(*, item: QueueItem, reviewer: User, now=None) -> Reservation:
    """Mark the item done for this reviewer ("submit and next") and drop their draft."""
    now = now or timezone.now()
    reservation = claim_item(item=item, reviewer=reviewer, now=now)
    if reservation is None:
        raise ValidationError(
            {
                "item": [
                    f"this item already has its {item.queue.overlap} reviewer(s); "
                    "your feedback is kept in the assessment log"
                ]
            }
        )
    if reservation.done_at is None:
        Reservation.objects.filter(pk=reservation.pk).update(done_at=now)
        reservation.done_at = now
    Draft.objects.filter(item=item, reviewer=reviewer).delete()
    return reservation


def typed_changes(*, request: Request, current: Assessment | None, typed: dict) -> dict:
    """What the reviewer typed (the panel's text fields) that the feedback log does not hold yet.

    The panel saves text after a pause in typing; "submit and next" may come sooner, so the
    submit carries the fields and this turns them into `record_feedback` changes.
    """
    changes: dict = {}
    for name in ("comment", "other_reason"):
        value = typed.get(name)
        if isinstance(value, str) and value != (getattr(current, name, "") or ""):
            changes[name] = value
    correction = typed.get("corrected_response")
    saved = current.corrected_response if current and current.corrected_response is not None else None
    if isinstance(correction, str) and correction != (request.response if saved is None else saved):
        changes["corrected_response"] = correction
    chunks = []
    for chunk in (current.retrieval_assessments if current else None) or []:
        value = typed.get(f"chunk_comment_{chunk.get('position')}")
        if chunk.get("rating") and isinstance(value, str) and value != (chunk.get("comment") or ""):
            chunks.append({"position": chunk["position"], "rating": chunk["rating"], "comment": value})
    if chunks:
        changes["retrieval_assessments"] = chunks
    return changes


@transaction.atomic
def submit_review(*, item: QueueItem, reviewer: User, typed: dict | None = None, now=None) -> Reservation:
    """ "Submit and next": record what was typed but not yet saved, then mark the item done.

    The answer needs a thumbs up or down first; on any error nothing is recorded and the
    reviewer's draft stays.
    """
    request = item.request
    current = effective_for(request=request, reviewer=reviewer)
    changes = typed_changes(request=request, current=current, typed=typed or {})
    if changes:
        current = record(request=request, reviewer=reviewer, changes=changes, queue=item.queue).assessment
    if current is None or not current.rating:
        raise ValidationError({"rating": ["Give the answer a thumbs up or down (1 or 2) before submitting."]})
    return complete_item(item=item, reviewer=reviewer, now=now)


@transaction.atomic
def save_draft(*, item: QueueItem, reviewer: User, data: dict, now=None) -> Draft:
    """Keep what the reviewer typed; typing also renews their reservation, as they are at work on it."""
    now = now or timezone.now()
    draft, _ = Draft.objects.update_or_create(
        item=item, reviewer=reviewer, defaults={"data": data, "updated_at": now}
    )
    Reservation.objects.filter(item=item, reviewer=reviewer, done_at__isnull=True).update(
        expires_at=now + RESERVATION_TIME
    )
    return draft


# --- progress and agreement, for the owner -----------------------------------------------


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
    now = now or timezone.now()
    done = Q(reservations__done_at__isnull=False)
    items = queue.items.count()
    complete = (
        queue.items.annotate(done=Count("reservations", filter=done)).filter(done__gte=queue.overlap).count()
    )
    rows = (
        Reservation.objects.filter(item__queue=queue)
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
        reviews_done=sum(r.done for r in reviewers),
        items_complete=complete,
        reviewers=reviewers,
    )


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
    done = mine.filter(done_at__isnull=False).count()
    pending = mine.filter(done_at__isnull=True).count()
    available = open_items_for(queue=queue, user=user, now=now).count()
    return ReviewerQueueProgress(queue=queue, done=done, total=done + pending + available)


@dataclass
class QueueAgreement:
    rating: agreement_lib.Agreement
    chunks: agreement_lib.Agreement
    disagreements: list[agreement_lib.Disagreement]


def queue_agreement(*, queue: ReviewQueue) -> QueueAgreement:
    """Agreement among the submitted reviews of the queue, from each reviewer's effective feedback."""
    submitted = list(
        Reservation.objects.filter(item__queue=queue, done_at__isnull=False).values_list(
            "item_id", "item__request_id", "reviewer_id", "reviewer__email"
        )
    )
    by_pair = {
        (request_id, reviewer_id): (item_id, email) for item_id, request_id, reviewer_id, email in submitted
    }
    assessments = Assessment.objects.filter(
        request_id__in={p[0] for p in by_pair}, reviewer_id__in={p[1] for p in by_pair}
    ).effective()
    rating: dict = {}
    chunks: dict = {}
    reviews: dict = {}
    for row in assessments.values("request_id", "reviewer_id", "rating", "retrieval_assessments"):
        key = (row["request_id"], row["reviewer_id"])
        if key not in by_pair:
            continue
        item_id, email = by_pair[key]
        review = reviews.setdefault(item_id, {}).setdefault(email, {"rating": row["rating"], "chunks": {}})
        if row["rating"]:
            rating.setdefault(item_id, {})[email] = row["rating"]
        for chunk in row["retrieval_assessments"] or []:
            if chunk.get("rating") and chunk.get("position") is not None:
                chunks.setdefault((item_id, chunk["position"]), {})[email] = chunk["rating"]
                review["chunks"][chunk["position"]] = chunk["rating"]
    found = agreement_lib.disagreements(reviews)
    items = queue.items.select_related("request").in_bulk([d.item for d in found])
    for d in found:
        d.item = items[d.item]
    return QueueAgreement(
        rating=agreement_lib.agreement(rating), chunks=agreement_lib.agreement(chunks), disagreements=found
    )
