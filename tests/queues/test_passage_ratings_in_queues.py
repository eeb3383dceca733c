"""Queues read chunk ratings by passage, as the panel and exports do (requestlog.passages.ratings)."""

from reviewapp.catalog.models import Level
from reviewapp.feedback.models import Assessment
from reviewapp.feedback.services import record_feedback
from reviewapp.queues import claims, progress, services
from tests import factories

ROTATE = {"doc_uri": "docs://tokens#rotate", "content": "Tokens can be rotated in Settings."}
REVOKE = {"doc_uri": "docs://tokens#revoke", "content": "Revoked tokens stop working at once."}
CHUNKS = [
    {"position": 0, **ROTATE, "span_name": "search", "span_id": "s", "span_type": "RETRIEVER"},
    {"position": 1, **REVOKE, "span_name": "search", "span_id": "s", "span_type": "RETRIEVER"},
    {"position": 2, **ROTATE, "span_name": "rerank", "span_id": "r", "span_type": "RERANKER"},
]


def point_context_at(app, span: str):
    app.context_span = span
    app.save(update_fields=["context_span"])


def test_two_reviewers_rating_two_copies_of_one_passage_are_compared_on_it(app, manager):
    first, second = (factories.make_user(f"r{i}@example.com") for i in range(2))
    for user in (first, second):
        factories.grant(app, user, Level.CAN_QUERY)
    req = factories.make_request(app, chunks=CHUNKS)
    queue, _ = services.create_queue(
        app=app, name="Two", created_by=manager, overlap=2, request_ids=[req.request_id]
    )
    record_feedback(
        request=req,
        reviewer=first,
        changes={"rating": "positive", "retrieval_assessments": [{"position": 2, "rating": "relevant"}]},
    )
    point_context_at(app, "search")
    req.refresh_from_db()
    record_feedback(
        request=req,
        reviewer=second,
        changes={"rating": "positive", "retrieval_assessments": [{"position": 0, "rating": "not_relevant"}]},
    )
    for user in (first, second):
        claims.complete_item(item=queue.items.get(), reviewer=user)

    result = progress.queue_agreement(queue=queue)

    assert result.chunks.units == 1
    [disagreement] = result.disagreements
    assert disagreement.item.request == req


def test_submitting_with_a_comment_field_for_a_document_no_longer_seen_records_nothing_for_it(app, querier):
    point_context_at(app, "search")
    req = factories.make_request(app, chunks=CHUNKS)
    queue, _ = services.create_queue(app=app, name="One", created_by=querier, request_ids=[req.request_id])
    item = queue.items.get()
    record_feedback(
        request=req,
        reviewer=querier,
        changes={"rating": "positive", "retrieval_assessments": [{"position": 1, "rating": "relevant"}]},
    )
    # The reranker now decides: the revoke page is no passage, and the panel shows no field for it.
    point_context_at(app, "")
    req.refresh_from_db()

    claims.submit_review(item=item, reviewer=querier, typed={"chunk_comment_1": "the wrong page"})

    assert Assessment.objects.filter(request=req).count() == 1
    assert item.reservations.get(reviewer=querier).done_at is not None


def test_a_typed_comment_on_a_moved_passage_is_saved_on_the_passage(app, querier):
    req = factories.make_request(app, chunks=CHUNKS)
    queue, _ = services.create_queue(app=app, name="One", created_by=querier, request_ids=[req.request_id])
    record_feedback(
        request=req,
        reviewer=querier,
        changes={"rating": "positive", "retrieval_assessments": [{"position": 2, "rating": "relevant"}]},
    )
    point_context_at(app, "search")
    req.refresh_from_db()

    claims.submit_review(
        item=queue.items.get(), reviewer=querier, typed={"chunk_comment_0": "the right page"}
    )

    stored = Assessment.objects.effective_for(req, querier).retrieval_assessments
    assert [(i["position"], i["rating"], i["comment"]) for i in stored] == [(0, "relevant", "the right page")]
