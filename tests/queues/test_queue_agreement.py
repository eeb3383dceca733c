"""Agreement of a queue, gathered from the reviewers' effective feedback on submitted items."""

import pytest

from reviewapp.catalog.models import Level
from reviewapp.feedback.services import record_feedback
from reviewapp.queues import claims, progress, services
from reviewapp.queues.agreement import KRIPPENDORFF_ALPHA
from tests import factories


def test_three_reviewers_get_krippendorffs_alpha_on_thumbs_and_on_passages(app, manager):
    users = [factories.make_user(f"r{i}@example.com") for i in range(3)]
    for user in users:
        factories.grant(app, user, Level.CAN_QUERY)
    requests = [factories.make_request(app, question=f"Q{i}") for i in range(4)]
    queue, _ = services.create_queue(
        app=app, name="Three", created_by=manager, overlap=3, request_ids=[r.request_id for r in requests]
    )
    # The hand-computed case of test_agreement: alpha = 2/3. The last item has two reviews only.
    votes = [("+", "+", "+"), ("+", "+", "-"), ("-", "-", "-"), ("-", "-", None)]
    for request, item_votes in zip(requests, votes, strict=True):
        for user, vote in zip(users, item_votes, strict=True):
            if vote is None:
                continue
            rating = "positive" if vote == "+" else "negative"
            chunks = [{"position": 0, "rating": "relevant"}]
            record_feedback(
                request=request, reviewer=user, changes={"rating": rating, "retrieval_assessments": chunks}
            )
            claims.complete_item(item=queue.items.get(request=request), reviewer=user)
    # Feedback without a submitted review is not counted.
    record_feedback(request=requests[3], reviewer=users[2], changes={"rating": "positive"})

    result = progress.queue_agreement(queue=queue)

    assert result.rating.metric == KRIPPENDORFF_ALPHA
    assert result.rating.value == pytest.approx(2 / 3)
    assert (result.rating.units, result.rating.raters) == (4, 3)
    assert result.chunks.value is None and result.chunks.units == 4 and "relevant" in result.chunks.note
    assert [d.item.request for d in result.disagreements] == [requests[1]]
    assert result.disagreements[0].score == pytest.approx(2 / 6)
