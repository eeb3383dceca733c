"""Handing a queue's items to reviewers, and taking them back done.

Each item has `overlap` slots (Reservation rows); claiming takes a free or expired slot with the
database deciding races, so two reviewers never hold the same slot. A reservation lasts
RESERVATION_TIME and is renewed while the reviewer works on the item.
"""

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, Max, OuterRef, Q
from django.db.models.functions import Mod
from django.utils import timezone
from django.utils.crypto import salted_hmac

from reviewapp.accounts.models import User
from reviewapp.feedback.models import Assessment
from reviewapp.feedback.services import record_feedback
from reviewapp.requestlog import passages as passage_rules
from reviewapp.requestlog.models import Request

from .models import Draft, QueueItem, Reservation, ReviewQueue

RESERVATION_TIME = timedelta(minutes=30)
# Gold requests looked at per gold claim (the app's gold set is small; this bounds the read).
_GOLD_CANDIDATES = 500
# Candidate items looked at per claim; more than enough to get past those lost to a race.
_CLAIM_CANDIDATES = 20


def _eligible_items(queue: ReviewQueue, user: User):
    """The queue's items this reviewer may be handed, ignoring how full they are.

    Gold items are never among them: they are handed only by `_maybe_gold`, once to each reviewer who draws one.
    """
    items = queue.items.filter(gold=False)
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
    """The unfinished reservation this reviewer holds in the queue now (past `after` first).

    A read only: showing a page must not reserve or renew anything, so links a browser or a
    prefetcher follows on its own change nothing.
    """
    unfinished = (
        Reservation.objects.held_by(reviewer)
        .unfinished()
        .filter(item__queue=queue)
        .select_related("item")
        .order_by("item__position", "item_id")
    )
    if after is not None:
        past = unfinished.filter(item__position__gt=after.position).first()
        if past is not None:
            return past
    return unfinished.first()


def may_claim(*, queue: ReviewQueue, reviewer: User, item: QueueItem) -> bool:
    """Whether `claim_item` would hand this item to the reviewer now (a read only): theirs once and
    not submitted (an expired reservation is taken again), or open to them."""
    theirs = Reservation.objects.filter(item=item, reviewer=reviewer).unfinished().exists()
    return theirs or open_items_for(queue=queue, user=reviewer).filter(pk=item.pk).exists()


@transaction.atomic
def claim_next(
    *, queue: ReviewQueue, reviewer: User, after: QueueItem | None = None, now=None
) -> Reservation | None:
    """The reservation of the item this reviewer should look at next, or None when nothing is left.

    Their own unfinished reservations come first (renewed), then the first open item, in queue
    order. With `after` (skipping ahead with "next"), items past it are tried first, then the
    search wraps round to the start of the queue.
    """
    if queue.closed_at is not None:
        return None  # a closed queue hands out nothing
    now = now or timezone.now()
    unfinished = (
        Reservation.objects.filter(item__queue=queue, reviewer=reviewer)
        .unfinished()
        .select_related("item")
        .order_by("item__position", "item_id")
    )
    # A gold item sits at the position of the item it was handed before, which comes next.
    start = None if after is None else after.position - 1 if after.gold else after.position
    floors = [start, None] if after is not None else [None]
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
    for attempt in range(3):
        items = open_items_for(queue=queue, user=reviewer, now=now)
        if floor is not None:
            items = items.filter(position__gt=floor)
        candidates = list(items[:_CLAIM_CANDIDATES])
        if not candidates:
            return None
        if attempt == 0:
            gold = _maybe_gold(queue=queue, reviewer=reviewer, position=candidates[0].position, now=now)
            if gold is not None:
                return gold
        for item in candidates:
            reservation = _take_slot(item=item, overlap=queue.overlap, reviewer=reviewer, now=now)
            if reservation is not None:
                return reservation
    return None


# --- gold items -----------------------------------------------------------------------------


def gold_draw(*, queue: ReviewQueue, reviewer: User, n: int, purpose: str = "hand") -> float:
    """A number in [0, 1) fixed by the queue, the reviewer, their n-th claim and the server's secret.

    The same claim always draws the same number (tests can count on it); a reviewer, who does not
    know the secret, cannot tell which of their claims will be gold.
    """
    value = "\0".join((purpose, queue.app.slug, queue.name, reviewer.email, str(n)))
    digest = salted_hmac("reviewapp.queues.gold", value, algorithm="sha256").digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def gold_candidates(*, queue: ReviewQueue, reviewer: User):
    """The app's gold requests this reviewer may be handed: never one they labelled or were handed
    before (in any queue), nor one that is an ordinary item of this queue."""
    labelled = Assessment.objects.filter(request_id=OuterRef("pk"), reviewer=reviewer)
    handed = Reservation.objects.filter(item__request_id=OuterRef("pk"), reviewer=reviewer)
    ordinary = QueueItem.objects.filter(request_id=OuterRef("pk"), queue=queue, gold=False)
    return Request.objects.filter(app_id=queue.app_id, gold__isnull=False).exclude(
        Exists(labelled) | Exists(handed) | Exists(ordinary)
    )


# Claims ahead whose gold draw is read one by one; past them, the expected share stands in.
_GOLD_LOOKAHEAD = 200


def gold_ahead(*, queue: ReviewQueue, reviewer: User, available: int) -> int:
    """How many gold items this reviewer will be handed while they work through the `available`
    ordinary items left to them: their own coming draws, read as `_maybe_gold` will read them.

    Counted into the reviewer's total from the start, so being handed a gold item moves none of
    their figures in a way an ordinary item would not (the items left shrink by one either way).
    """
    if queue.gold_rate <= 0 or queue.mode != ReviewQueue.Mode.REVIEW or available <= 0:
        return 0
    n = Reservation.objects.filter(item__queue=queue, reviewer=reviewer).count()
    gold = ordinary = 0
    while ordinary < available and gold + ordinary < _GOLD_LOOKAHEAD:
        if gold_draw(queue=queue, reviewer=reviewer, n=n + gold + ordinary) < queue.gold_rate:
            gold += 1
        else:
            ordinary += 1
    gold += round((available - ordinary) * queue.gold_rate / (1 - queue.gold_rate))
    if not gold:
        return 0
    return min(gold, gold_candidates(queue=queue, reviewer=reviewer)[:_GOLD_CANDIDATES].count())


def _maybe_gold(*, queue: ReviewQueue, reviewer: User, position: int, now) -> Reservation | None:
    """With probability `gold_rate`, a gold item for this reviewer in place of their next item."""
    if queue.gold_rate <= 0 or queue.mode != ReviewQueue.Mode.REVIEW:
        return None
    n = Reservation.objects.filter(item__queue=queue, reviewer=reviewer).count()
    if gold_draw(queue=queue, reviewer=reviewer, n=n) >= queue.gold_rate:
        return None
    ids = list(
        gold_candidates(queue=queue, reviewer=reviewer)
        .order_by("gold__marked_at", "request_id")
        .values_list("request_id", flat=True)[:_GOLD_CANDIDATES]
    )
    if not ids:
        return None
    pick = ids[int(gold_draw(queue=queue, reviewer=reviewer, n=n, purpose="pick") * len(ids))]
    item = QueueItem.objects.filter(queue=queue, request_id=pick, gold=True).first()
    if item is None:
        try:
            with transaction.atomic():
                # At the position of the item it stands in front of: it reads like its neighbours.
                item = QueueItem.objects.create(
                    queue=queue, request_id=pick, gold=True, position=position, added_at=now
                )
        except IntegrityError:  # another reviewer's claim added it a moment ago
            item = QueueItem.objects.filter(queue=queue, request_id=pick, gold=True).first()
            if item is None:
                return None
    return _take_gold_slot(item=item, reviewer=reviewer, now=now)


def _take_gold_slot(*, item: QueueItem, reviewer: User, now) -> Reservation | None:
    """A new slot on a gold item: every reviewer may have it once, so it has no overlap limit."""
    for _attempt in range(5):
        last = item.reservations.aggregate(last=Max("slot"))["last"] or 0
        try:
            with transaction.atomic():
                return Reservation.objects.create(
                    item=item,
                    slot=last + 1,
                    reviewer=reviewer,
                    claimed_at=now,
                    expires_at=now + RESERVATION_TIME,
                )
        except IntegrityError:
            if item.reservations.filter(reviewer=reviewer).exists():
                return None
    return None


@transaction.atomic
def claim_item(*, item: QueueItem, reviewer: User, now=None) -> Reservation | None:
    """This reviewer's reservation on `item`, renewed or newly taken; None when the item is full."""
    now = now or timezone.now()
    queue = item.queue
    if queue.closed_at is not None:
        return None  # a closed queue hands out nothing
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
    # By passage, as the panel names its comment fields; a stored rating of a document that is
    # no passage now has no field and would fail validation.
    stored = current.retrieval_assessments if current else None
    for position, chunk in passage_rules.ratings(stored, request.chunks, request.app.context_span).items():
        value = typed.get(f"chunk_comment_{position}")
        if isinstance(value, str) and value != (chunk.get("comment") or ""):
            chunks.append({"position": position, "rating": chunk["rating"], "comment": value})
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
    current = Assessment.objects.effective_for(request, reviewer)
    changes = typed_changes(request=request, current=current, typed=typed or {})
    if changes:
        recorded = record_feedback(request=request, reviewer=reviewer, changes=changes, queue=item.queue)
        current = recorded.assessment
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
    # A lapsed reservation is not renewed by typing: it must be taken again (review_item's POST).
    Reservation.objects.filter(item=item, reviewer=reviewer, expires_at__gt=now).unfinished().update(
        expires_at=now + RESERVATION_TIME
    )
    return draft
