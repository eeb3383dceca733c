from reviewapp.catalog.models import Level
from reviewapp.queues import claims
from tests import factories


def reviewers(app, count, prefix="reviewer"):
    users = [factories.make_user(f"{prefix}{i}@example.com") for i in range(count)]
    for user in users:
        factories.grant(app, user, Level.CAN_QUERY)
    return users


def relevance(*relevant: bool) -> list[dict]:
    """Chunk ratings for passages 0, 1, ... of the factories' request."""
    return [
        {"position": p, "rating": "relevant" if yes else "not_relevant", "comment": ""}
        for p, yes in enumerate(relevant)
    ]


def review_all(queue, users, answer) -> None:
    """Each reviewer in turn takes their next item and answers it, until none is left for anyone.

    `answer(reviewer, item)` → (rating, chunk ratings) written as the reviewer's feedback.
    """
    active = list(users)
    while active:
        for user in list(active):
            reservation = claims.claim_next(queue=queue, reviewer=user)
            if reservation is None:
                active.remove(user)
                continue
            rating, chunks = answer(user, reservation.item)
            factories.make_assessment(reservation.item.request, user, rating, retrieval_assessments=chunks)
            claims.complete_item(item=reservation.item, reviewer=user)
