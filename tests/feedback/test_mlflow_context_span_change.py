"""A chunk rating written back to MLflow stays one live item per document when the app's context
span moves the passage between two saves (real trace, real Celery worker, real tracking store)."""

import pytest

from reviewapp.chains import tracing
from reviewapp.chains.mlflow_setup import configure, experiment_id
from tests import factories
from tests.feedback.test_mlflow_writeback import delivered

pytestmark = [pytest.mark.worker, pytest.mark.timeout(300)]

ROTATE = {"doc_uri": "docs://tokens#rotate", "content": "Tokens can be rotated in Settings."}
REVOKE = {"doc_uri": "docs://tokens#revoke", "content": "Revoked tokens stop working at once."}


@pytest.fixture
def reranked_request(app):
    """A request with a real trace: a retriever returning two pages, a reranker keeping the first."""
    import mlflow
    from mlflow.entities import Document, SpanType

    configure()
    mlflow.set_experiment(experiment_id=experiment_id("context-span-change"))

    def docs(*found):
        return [Document(page_content=d["content"], metadata={"doc_uri": d["doc_uri"]}) for d in found]

    @mlflow.trace(name="keyword_search", span_type=SpanType.RETRIEVER)
    def keyword_search(query):
        return docs(ROTATE, REVOKE)

    @mlflow.trace(name="rerank", span_type=SpanType.RERANKER)
    def rerank(query, found):
        return docs(ROTATE)

    @mlflow.trace(name="chain", span_type=SpanType.CHAIN)
    def chain(query):
        return rerank(query, keyword_search(query))

    chain("rotate a token")
    trace_id = mlflow.get_last_active_trace_id()
    mlflow.flush_trace_async_logging()
    chunks = tracing.chunks(mlflow.get_trace(trace_id).to_dict())
    assert [(c["position"], c["span_name"]) for c in chunks] == [
        (0, "keyword_search"),
        (1, "keyword_search"),
        (2, "rerank"),
    ]
    return factories.make_request(app, chunks=chunks, mlflow_trace_id=trace_id)


def live_chunk_items(trace_id: str) -> list:
    """chunk_relevance items neither overridden nor taken back (a valueless override)."""
    return [
        a
        for a in configure().get_trace(trace_id).info.assessments
        if a.name == "chunk_relevance" and a.valid is not False and a.value is not None
    ]


def test_a_moved_passage_rated_again_leaves_one_live_rating_of_its_document(
    celery_worker, app, reranked_request, manager
):
    req = reranked_request
    delivered(req, manager, rating="positive", retrieval_assessments=[{"position": 2, "rating": "relevant"}])
    app.context_span = "keyword_search"
    app.save(update_fields=["context_span"])
    req.refresh_from_db()

    delivered(req, manager, retrieval_assessments=[{"position": 0, "rating": "not_relevant"}])

    live = live_chunk_items(req.mlflow_trace_id)
    assert [(a.metadata["doc_uri"], a.metadata["position"], a.value) for a in live] == [
        (ROTATE["doc_uri"], "0", False)
    ]


def test_a_rating_taken_back_after_the_passage_moved_stays_taken_back_until_given_again(
    celery_worker, app, reranked_request, manager
):
    req = reranked_request
    delivered(req, manager, rating="positive", retrieval_assessments=[{"position": 2, "rating": "relevant"}])
    app.context_span = "keyword_search"
    app.save(update_fields=["context_span"])
    req.refresh_from_db()

    delivered(req, manager, retrieval_assessments=[{"position": 0, "rating": None}])
    # A later save carries the taken-back item forward without taking it back again.
    delivered(req, manager, comment="The reranker was right.")

    assert live_chunk_items(req.mlflow_trace_id) == []
    taken_back = [
        a
        for a in configure().get_trace(req.mlflow_trace_id).info.assessments
        if a.name == "chunk_relevance" and a.value is None
    ]
    assert len(taken_back) == 1

    delivered(req, manager, retrieval_assessments=[{"position": 0, "rating": "relevant"}])

    [live] = live_chunk_items(req.mlflow_trace_id)
    spans = {s.name: s.span_id for s in configure().get_trace(req.mlflow_trace_id).data.spans}
    assert (live.metadata["position"], live.value, live.span_id) == ("0", True, spans["keyword_search"])
