"""The items of a queue its reviewers disagree on, each with every reviewer's feedback side by side.

An item is disputed when, among the reviewers who submitted it (each one's effective feedback):
- their thumbs differ;
- they rate one of its passages differently (relevant / not relevant);
- one gave a thumbs up without a correction while another wrote a correction (a text that is not
  the response itself): the first approved the answer the second rewrote.
The first two are queues.agreement's disagreements; the third is added here. An item settled by an
adjudication stays listed (as settled) even once its reviewers agree.
"""

from dataclasses import dataclass, field

from reviewapp.feedback.models import Assessment
from reviewapp.queues import agreement as agreement_lib
from reviewapp.queues.models import QueueItem, Reservation, ReviewQueue
from reviewapp.requestlog import passages as passage_rules

from .models import Adjudication

THUMBS, PASSAGES, CORRECTION = "thumbs", "passages", "correction"
KIND_WORDS = {
    THUMBS: "thumbs",
    PASSAGES: "passage relevance",
    CORRECTION: "a correction vs a thumbs up",
}


@dataclass
class Review:
    """One reviewer's effective feedback on the item, as the adjudicator sees it."""

    number: int  # the reviewer's slot on the item: stable, and all a blind queue shows
    reviewer_id: int
    email: str  # "" when the queue is blind
    rating: str
    reasons: list[str]
    comment: str
    corrected_response: str | None
    chunks: dict[int, dict]  # position → {"rating": relevant | not_relevant, "comment"}

    @property
    def label(self) -> str:
        return self.email or f"Reviewer {self.number}"

    def relevance(self) -> dict[int, bool]:
        return {p: c["rating"] == "relevant" for p, c in self.chunks.items()}


@dataclass
class Case:
    item: QueueItem
    kinds: list[str]
    score: float  # share of compared reviewer pairs that disagree (1 for a correction alone)
    reviews: list[Review]
    disputed_passages: list[int] = field(default_factory=list)
    adjudication: Adjudication | None = None

    @property
    def request(self):
        return self.item.request

    @property
    def settled(self) -> bool:
        return self.adjudication is not None

    @property
    def kind_words(self) -> list[str]:
        return [KIND_WORDS[k] for k in self.kinds]

    def review(self, number: int) -> Review | None:
        return next((r for r in self.reviews if r.number == number), None)


def _is_correction(text: str | None, response: str) -> bool:
    return bool(text and text.strip() and text.strip() != (response or "").strip())


def _reviews(queue: ReviewQueue, items: list[QueueItem] | None = None) -> dict[int, list[Review]]:
    """{item id: its submitted reviews, by slot}, each the reviewer's effective feedback."""
    done = Reservation.objects.filter(item__queue=queue).done()
    if items is not None:
        done = done.filter(item__in=items)
    slots = {
        (request_id, reviewer_id): (item_id, slot, email)
        for item_id, request_id, reviewer_id, slot, email in done.values_list(
            "item_id", "item__request_id", "reviewer_id", "slot", "reviewer__email"
        )
    }
    rows = (
        Assessment.objects.filter(request_id__in={k[0] for k in slots}, reviewer_id__in={k[1] for k in slots})
        .latest_per_reviewer()
        .values(
            "request_id",
            "reviewer_id",
            "rating",
            "reasons",
            "other_reason",
            "comment",
            "corrected_response",
            "retrieval_assessments",
            "request__chunks",
        )
    )
    context_span = queue.app.context_span
    found: dict[int, list[Review]] = {}
    for row in rows:
        key = (row["request_id"], row["reviewer_id"])
        if key not in slots:
            continue
        item_id, slot, email = slots[key]
        rated = passage_rules.ratings(row["retrieval_assessments"], row["request__chunks"], context_span)
        reasons = [r for r in row["reasons"] or [] if r != "other"]
        if row["other_reason"]:
            reasons.append(row["other_reason"])
        found.setdefault(item_id, []).append(
            Review(
                number=slot,
                reviewer_id=row["reviewer_id"],
                email="" if queue.blind else email,
                rating=row["rating"],
                reasons=reasons,
                comment=row["comment"],
                corrected_response=row["corrected_response"],
                chunks={
                    p: {"rating": c["rating"], "comment": c.get("comment") or ""} for p, c in rated.items()
                },
            )
        )
    for reviews in found.values():
        reviews.sort(key=lambda r: r.number)
    return found


def _judge(item: QueueItem, reviews: list[Review]) -> Case | None:
    """The item's case when its reviewers disagree, else None."""
    by_reviewer = {
        r.number: {"rating": r.rating, "chunks": {p: c["rating"] for p, c in r.chunks.items()}}
        for r in reviews
    }
    kinds, score, disputed = [], 0.0, []
    found = agreement_lib.disagreements({item.pk: by_reviewer})
    if found:
        score = found[0].score
        if found[0].rating:
            kinds.append(THUMBS)
        if found[0].chunks:
            kinds.append(PASSAGES)
            disputed = sorted(found[0].chunks)
    response = item.request.response
    approved = [
        r for r in reviews if r.rating == "positive" and not _is_correction(r.corrected_response, response)
    ]
    corrected = [r for r in reviews if _is_correction(r.corrected_response, response)]
    if approved and corrected:
        kinds.append(CORRECTION)
        score = max(score, len(approved) * len(corrected) / (len(reviews) * (len(reviews) - 1) / 2))
    if not kinds:
        return None
    return Case(item=item, kinds=kinds, score=score, reviews=reviews, disputed_passages=disputed)


def _settled(item: QueueItem, reviews: list[Review]) -> Case:
    """An adjudicated item whose reviewers agree by now: listed as settled all the same."""
    return Case(item=item, kinds=[], score=0.0, reviews=reviews)


def cases(queue: ReviewQueue) -> list[Case]:
    """Every disputed or adjudicated item of the queue: the open ones first (most disputed first),
    then the settled ones (the latest settled first)."""
    reviews = _reviews(queue)
    adjudications = {
        a.request_id: a
        for a in Adjudication.objects.filter(request__queue_items__queue=queue).select_related("adjudicator")
    }
    wanted = set(reviews) | set(
        queue.items.filter(request_id__in=list(adjudications)).values_list("pk", flat=True)
    )
    items = queue.items.select_related("request").in_bulk(list(wanted))
    found = []
    for item_id, item in items.items():
        case = _judge(item, reviews.get(item_id, []))
        adjudication = adjudications.get(item.request_id)
        if case is None and adjudication is not None:
            case = _settled(item, reviews.get(item_id, []))
        if case is not None:
            case.adjudication = adjudication
            found.append(case)
    open_ = sorted((c for c in found if not c.settled), key=lambda c: (-c.score, c.item.position, c.item.pk))
    settled = sorted(
        (c for c in found if c.settled), key=lambda c: (c.adjudication.updated_at, c.item.pk), reverse=True
    )
    return open_ + settled


def case_for(queue: ReviewQueue, request_id) -> Case | None:
    """The case of one request of the queue; None when it is not in the queue, or nobody disputes
    it and it was never adjudicated."""
    item = queue.items.select_related("request").filter(request_id=request_id).first()
    if item is None:
        return None
    reviews = _reviews(queue, [item]).get(item.pk, [])
    adjudication = (
        Adjudication.objects.filter(request_id=item.request_id).select_related("adjudicator").first()
    )
    case = _judge(item, reviews)
    if case is None and adjudication is not None:
        case = _settled(item, reviews)
    if case is not None:
        case.adjudication = adjudication
    return case
