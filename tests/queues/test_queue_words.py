"""The owner's queue screens in people's words: no enum names, passages numbered as cited."""

from reviewapp.feedback.services import record_feedback
from reviewapp.queues import claims
from tests import factories
from tests.queues.helpers import queue_of

BASE = "/apps/support-bot/queues/"


def test_disputed_passages_are_numbered_from_one_and_rated_in_words(
    app, manager, querier, group_querier, as_user
):
    request = factories.make_request(app, question="Where is billing?")
    queue = queue_of([request], created_by=manager, overlap=2, assignment="open")
    for reviewer, label in ((querier, "relevant"), (group_querier, "not_relevant")):
        record_feedback(
            request=request,
            reviewer=reviewer,
            changes={"rating": "positive", "retrieval_assessments": [{"position": 0, "rating": label}]},
        )
        claims.complete_item(item=queue.items.get(request=request), reviewer=reviewer)

    page = as_user(manager).get(f"{BASE}{queue.pk}/").content.decode()

    assert "Open to anyone who can query the app" in page
    assert "Passage 1 (" in page and "#0" not in page
    assert f"{group_querier.email}: not relevant" in page
    # Both said thumbs up: the note says so in words, not as a Python string.
    assert "every review said positive" in page
    assert "CAN_QUERY" not in page and "not_relevant" not in page and "&#x27;positive&#x27;" not in page
