"""Gold items (known answers), and how each reviewer measures up: against gold, against the
consensus, and by Dawid–Skene on the items several reviewers labelled."""

import math
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction

from reviewapp.accounts.models import User
from reviewapp.adjudication.models import Adjudication
from reviewapp.catalog.models import App
from reviewapp.feedback.models import Assessment
from reviewapp.queues.models import Reservation, ReviewQueue
from reviewapp.queues.progress import queue_progress
from reviewapp.requestlog import passages as passage_rules
from reviewapp.requestlog.models import Request

from .models import GoldItem

if TYPE_CHECKING:
    from .dawid_skene import ReviewerEstimate

MAX_REQUEST_IDS = 1000
RATINGS = ("negative", "positive")
NO_FEEDBACK = "has no feedback yet: a gold item needs a known answer to measure reviewers against"

# --- the answer key -------------------------------------------------------------------------


@dataclass
class AnswerKey:
    rating: str  # positive | negative | "" (no key on the thumbs)
    relevant: dict[str, bool]  # passage position (as text) → relevant, where settled
    source: str
    unsettled: list[str] = field(default_factory=list)


def answer_key(request: Request) -> AnswerKey:
    """The request's known answer: its adjudicated label, else its reviewers' majority, field by field.

    A field the reviewers tie on has no key (it is named in `unsettled`); a request with no feedback,
    or with nothing settled at all, cannot be gold (ValidationError, saying why).
    """
    adjudication = Adjudication.objects.filter(request=request).first()
    if adjudication is not None and (adjudication.rating or adjudication.relevant):
        return AnswerKey(
            rating=adjudication.rating,
            relevant={str(p): bool(v) for p, v in (adjudication.relevant or {}).items()},
            source=GoldItem.Source.ADJUDICATED,
        )
    rows = list(
        Assessment.objects.filter(request=request)
        .latest_per_reviewer()
        .values_list("rating", "retrieval_assessments")
    )
    if not rows:
        raise ValidationError(NO_FEEDBACK)
    unsettled = []
    votes = Counter(rating for rating, _ in rows if rating)
    rating = ""
    if not votes:
        unsettled.append("nobody gave a thumbs rating")
    elif votes["positive"] == votes["negative"]:
        unsettled.append(f"thumbs tied {votes['positive']}–{votes['negative']}")
    else:
        rating = "positive" if votes["positive"] > votes["negative"] else "negative"
    by_position: dict[int, list[bool]] = {}
    for _, retrieval in rows:
        for position, chunk in passage_rules.ratings(
            retrieval, request.chunks, request.app.context_span
        ).items():
            by_position.setdefault(position, []).append(chunk["rating"] == "relevant")
    relevant = {}
    for position in sorted(by_position):
        yes, no = by_position[position].count(True), by_position[position].count(False)
        if yes == no:
            unsettled.append(f"passage {position + 1} tied {yes}–{no}")
        else:
            relevant[str(position)] = yes > no
    if not rating and not relevant:
        raise ValidationError(
            f"has nothing settled to measure against ({'; '.join(unsettled)}): adjudicate it first"
        )
    return AnswerKey(rating=rating, relevant=relevant, source=GoldItem.Source.MAJORITY, unsettled=unsettled)


def _requests_of(app: App, request_ids: list[str]) -> list[Request]:
    """The app's requests by id, in the order given; a ValidationError naming every id at fault."""
    if not request_ids:
        raise ValidationError({"request_ids": ["give at least one request id"]})
    if len(request_ids) > MAX_REQUEST_IDS:
        raise ValidationError({"request_ids": [f"at most {MAX_REQUEST_IDS} request ids at a time"]})
    parsed, bad = [], []
    for raw in request_ids:
        try:
            parsed.append(str(uuid.UUID(str(raw))))
        except ValueError:
            bad.append(str(raw)[:100])
    if bad:
        raise ValidationError({"request_ids": [f"not a request id: {', '.join(bad)}"]})
    found = {str(r.request_id): r for r in Request.objects.filter(app=app, request_id__in=parsed)}
    unknown = [r for r in parsed if r not in found]
    if unknown:
        raise ValidationError({"request_ids": [f"no such request in this app: {', '.join(unknown)}"]})
    return [found[r] for r in dict.fromkeys(parsed)]


@transaction.atomic
def mark_gold(*, app: App, request_ids: list[str], by: User | None) -> list[GoldItem]:
    """Mark requests as gold, each with its answer key as it is now (marking again takes it anew).

    All or nothing: when one cannot be gold, none is marked and the error names each that cannot.
    """
    requests = _requests_of(app, request_ids)
    keys, errors = {}, []
    for request in requests:
        try:
            keys[request.request_id] = answer_key(request)
        except ValidationError as error:
            errors.append(f"{request.request_id} {' '.join(error.messages)}")
    if errors:
        raise ValidationError({"request_ids": errors})
    marked = []
    for request in requests:
        key = keys[request.request_id]
        gold, _ = GoldItem.objects.update_or_create(
            request=request,
            defaults={
                "app": app,
                "rating": key.rating,
                "relevant": key.relevant,
                "source": key.source,
                "unsettled": key.unsettled,
                "marked_by": by,
            },
            create_defaults={
                "app": app,
                "rating": key.rating,
                "relevant": key.relevant,
                "source": key.source,
                "unsettled": key.unsettled,
                "marked_by": by,
            },
        )
        marked.append(gold)
    return marked


@transaction.atomic
def unmark_gold(*, app: App, request_ids: list[str]) -> int:
    """Take requests out of the gold set; items already handed stay done but measure nobody."""
    requests = _requests_of(app, request_ids)
    deleted, _ = GoldItem.objects.filter(app=app, request__in=requests).delete()
    return deleted


# --- each reviewer, on a queue --------------------------------------------------------------


@dataclass
class Score:
    correct: int = 0
    total: int = 0

    def add(self, right: bool) -> None:
        self.total += 1
        self.correct += int(right)

    @property
    def rate(self) -> float | None:
        return self.correct / self.total if self.total else None


@dataclass
class ReviewerReliability:
    email: str
    done: int = 0
    reserved: int = 0
    gold_thumbs: Score = field(default_factory=Score)
    gold_passages: Score = field(default_factory=Score)
    # Items with a majority among two or more reviewers where this reviewer gave the majority label.
    consensus: Score = field(default_factory=Score)
    dawid_skene: "ReviewerEstimate | None" = None
    flagged: bool = False


@dataclass
class QueueReliability:
    queue: ReviewQueue
    reviewers: list[ReviewerReliability]
    gold_items: int
    overlapping_items: int


def _majority(ratings: dict) -> str | None:
    votes = Counter(ratings.values())
    (top, n), *rest = votes.most_common()
    return None if rest and rest[0][1] == n else top


def queue_reliability(*, queue: ReviewQueue) -> QueueReliability:
    """Per reviewer of the queue: progress, gold accuracy, agreement with the consensus, Dawid–Skene.

    From each reviewer's effective feedback on the items they submitted; gold items count only
    against gold, the others only towards the consensus and Dawid–Skene (thumbs, over the items two
    or more reviewers rated).
    """
    done = list(
        Reservation.objects.filter(item__queue=queue)
        .done()
        .values_list("item__request_id", "item__gold", "reviewer_id", "reviewer__email")
    )
    pairs = {(request_id, reviewer_id): (gold, email) for request_id, gold, reviewer_id, email in done}
    rows = {email: ReviewerReliability(email) for email in sorted({p[1] for p in pairs.values()})}
    for progress in queue_progress(queue=queue).reviewers:
        row = rows.setdefault(progress.email, ReviewerReliability(progress.email))
        row.done, row.reserved = progress.done, progress.reserved

    effective = (
        Assessment.objects.filter(request_id__in={p[0] for p in pairs}, reviewer_id__in={p[1] for p in pairs})
        .latest_per_reviewer()
        .values_list("request_id", "reviewer_id", "rating", "retrieval_assessments")
    )
    keys = GoldItem.objects.filter(request_id__in={r for (r, _), (g, _) in pairs.items() if g}).in_bulk(
        field_name="request_id"
    )
    chunks = dict(Request.objects.filter(request_id__in=list(keys)).values_list("request_id", "chunks"))
    ratings: dict = {}
    for request_id, reviewer_id, rating, retrieval in effective:
        if (request_id, reviewer_id) not in pairs:
            continue
        gold, email = pairs[(request_id, reviewer_id)]
        if not gold:
            if rating:
                ratings.setdefault(request_id, {})[email] = rating
            continue
        key = keys.get(request_id)
        if key is None:  # no longer gold
            continue
        row = rows[email]
        if key.rating and rating:
            row.gold_thumbs.add(rating == key.rating)
        rated = passage_rules.ratings(retrieval, chunks.get(request_id), queue.app.context_span)
        for position, chunk in rated.items():
            if str(position) in key.relevant:
                row.gold_passages.add((chunk["rating"] == "relevant") == key.relevant[str(position)])

    overlapping = {r: by for r, by in ratings.items() if len(by) >= 2}
    for by in overlapping.values():
        majority = _majority(by)
        if majority is None:
            continue
        for email, rating in by.items():
            rows[email].consensus.add(rating == majority)
    # Imported here: numpy costs a web or worker process 30 MB it may never need.
    from .dawid_skene import dawid_skene

    estimate = dawid_skene(
        ((r, email, rating) for r, by in overlapping.items() for email, rating in by.items()), classes=RATINGS
    )
    threshold = queue.gold_accuracy_threshold
    for email, row in rows.items():
        row.dawid_skene = estimate.reviewers.get(email)
        row.flagged = threshold is not None and any(
            score.total and score.rate < threshold for score in (row.gold_thumbs, row.gold_passages)
        )
    return QueueReliability(
        queue=queue,
        reviewers=list(rows.values()),
        gold_items=queue.items.filter(gold=True).count(),
        overlapping_items=len(overlapping),
    )


# --- weights for the reliability-weighted export rule ---------------------------------------


def reviewer_weights(app: App) -> dict[str, float]:
    """{reviewer email: weight} from Dawid–Skene over the app's requests rated by two or more.

    The weight is the log-odds of the reviewer's accuracy, the weight that makes a weighted vote
    the most likely label when reviewers err alike on both labels; a reviewer no better than
    chance weighs nothing. A reviewer not in the estimate (never overlapped) is left out: the
    export rule gives them no weight.
    """
    by_request: dict = {}
    rows = (
        Assessment.objects.filter(app=app)
        .latest_per_reviewer()
        .exclude(rating="")
        .values_list("request_id", "source_id", "rating")
    )
    for request_id, email, rating in rows.iterator(chunk_size=5000):
        by_request.setdefault(request_id, {})[email] = rating
    # Imported here: numpy costs a web or worker process 30 MB it may never need.
    from .dawid_skene import dawid_skene

    estimate = dawid_skene(
        ((r, email, rating) for r, by in by_request.items() if len(by) >= 2 for email, rating in by.items()),
        classes=RATINGS,
    )
    weights = {}
    for email, reviewer in estimate.reviewers.items():
        accuracy = min(max(reviewer.accuracy, 1e-6), 1 - 1e-6)
        weights[email] = max(0.0, math.log(accuracy / (1 - accuracy)))
    return weights


def weights_for(app: App, rule: str) -> dict[str, float] | None:
    """The weights an export under `rule` needs (None for rules that weigh everyone alike)."""
    return reviewer_weights(app) if rule == "reliability_weighted" else None
