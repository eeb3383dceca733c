"""A queue of two reviewers who disagree on some items in each way, and agree on the others."""

from dataclasses import dataclass

from reviewapp.catalog.models import Level
from reviewapp.feedback.services import record_feedback
from reviewapp.queues import claims, services
from reviewapp.queues.models import ReviewQueue
from reviewapp.requestlog.models import Request
from tests import factories

RELEVANT = [{"position": 0, "rating": "relevant"}, {"position": 1, "rating": "not_relevant"}]
SWAPPED = [{"position": 0, "rating": "not_relevant"}, {"position": 1, "rating": "not_relevant"}]


@dataclass
class Disputed:
    queue: ReviewQueue
    first: object  # the reviewer of slot 1 on every item
    second: object
    thumbs: Request  # one says good, the other not good
    passage: Request  # both good, passage 1 relevant for one and not for the other
    correction: Request  # one approves the answer, the other rewrites it
    agreed: Request  # the same feedback from both
    same_text: Request  # a "correction" that is the answer itself is no correction


def submit(queue, request, reviewer, **feedback):
    record_feedback(request=request, reviewer=reviewer, changes=feedback, queue=queue)
    claims.complete_item(item=queue.items.get(request=request), reviewer=reviewer)


def disputed_queue(app, *, blind=False, name="Disputes", requests=None, reviewers=None) -> Disputed:
    if reviewers is None:
        reviewers = [factories.make_user(f"{who}-{name.lower()}@example.com") for who in ("ann", "bob")]
        for user in reviewers:
            factories.grant(app, user, Level.CAN_QUERY)
    first, second = reviewers
    made = requests or [factories.make_request(app, question=f"{name} question {i}") for i in range(5)]
    queue, _ = services.create_queue(
        app=app,
        name=name,
        created_by=None,
        overlap=2,
        assignment="named",
        blind=blind,
        reviewers=[first, second],
        request_ids=[r.request_id for r in made],
    )
    thumbs, passage, correction, agreed, same_text = made
    # The first reviewer submits every item first, so they hold slot 1 throughout.
    submit(queue, thumbs, first, rating="positive", comment="Spot on.", retrieval_assessments=RELEVANT)
    submit(queue, passage, first, rating="positive", retrieval_assessments=RELEVANT)
    submit(queue, correction, first, rating="positive")
    submit(queue, agreed, first, rating="positive", retrieval_assessments=RELEVANT)
    submit(queue, same_text, first, rating="positive")
    submit(
        queue,
        thumbs,
        second,
        rating="negative",
        reasons=["incomplete"],
        comment="Misses the mobile app.",
        corrected_response="Open Settings, then API tokens; on mobile, Profile › Tokens.",
        retrieval_assessments=RELEVANT,
    )
    submit(queue, passage, second, rating="positive", retrieval_assessments=SWAPPED)
    submit(
        queue,
        correction,
        second,
        rating="positive",
        corrected_response="Press Rotate under Settings › Tokens.",
    )
    submit(queue, agreed, second, rating="positive", retrieval_assessments=RELEVANT)
    submit(queue, same_text, second, rating="positive", corrected_response=same_text.response + "  ")
    return Disputed(queue, first, second, thumbs, passage, correction, agreed, same_text)
