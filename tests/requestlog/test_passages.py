"""Chunks keep the span that returned them; passages are what the model saw, each document once."""

import pytest

from reviewapp.chains import tracing
from reviewapp.chains.mlflow_setup import configure, experiment_id
from reviewapp.requestlog.passages import passage_positions, passages, ratings

A = {"doc_uri": "docs://tokens#rotate", "content": "Tokens can be rotated in Settings."}
B = {"doc_uri": "docs://tokens#revoke", "content": "Revoked tokens stop working at once."}
C = {"doc_uri": "docs://billing#plans", "content": "Plans are billed monthly."}


def chunk(position, document, span_name, span_type="RETRIEVER", span_id=None):
    return {
        "position": position,
        **document,
        "span_name": span_name,
        "span_id": span_id or f"{span_name}-id",
        "span_type": span_type,
    }


def documents(*found):
    return [(p["position"], p["doc_uri"], p["spans"]) for p in found]


@pytest.fixture(scope="module")
def real_trace() -> dict:
    """A trace MLflow records for a chain with two retrievers (sharing a document) and a reranker."""
    import mlflow
    from mlflow.entities import Document, SpanType

    configure()
    mlflow.set_experiment(experiment_id=experiment_id("passages-tests"))

    def docs(*found):
        return [Document(page_content=d["content"], metadata={"doc_uri": d["doc_uri"]}) for d in found]

    @mlflow.trace(name="keyword_search", span_type=SpanType.RETRIEVER)
    def keyword_search(query):
        return docs(A, B)

    @mlflow.trace(name="vector_search", span_type=SpanType.RETRIEVER)
    def vector_search(query):
        return docs(A, C)

    @mlflow.trace(name="rerank", span_type=SpanType.RERANKER)
    def rerank(query, found):
        return docs(A, C)

    @mlflow.trace(name="chain", span_type=SpanType.CHAIN)
    def chain(query):
        return rerank(query, keyword_search(query) + vector_search(query))

    chain("rotate a token")
    trace_id = mlflow.get_last_active_trace_id()
    mlflow.flush_trace_async_logging()
    trace = mlflow.get_trace(trace_id)
    return {"dict": trace.to_dict(), "spans": {s.name: s.span_id for s in trace.data.spans}}


def test_every_chunk_of_a_real_trace_keeps_the_name_id_and_type_of_its_span(real_trace):
    found = tracing.chunks(real_trace["dict"])

    ids = real_trace["spans"]
    assert [(c["position"], c["doc_uri"], c["span_name"], c["span_type"], c["span_id"]) for c in found] == [
        (0, A["doc_uri"], "keyword_search", "RETRIEVER", ids["keyword_search"]),
        (1, B["doc_uri"], "keyword_search", "RETRIEVER", ids["keyword_search"]),
        (2, A["doc_uri"], "vector_search", "RETRIEVER", ids["vector_search"]),
        (3, C["doc_uri"], "vector_search", "RETRIEVER", ids["vector_search"]),
        (4, A["doc_uri"], "rerank", "RERANKER", ids["rerank"]),
        (5, C["doc_uri"], "rerank", "RERANKER", ids["rerank"]),
    ]


def test_with_a_reranker_the_model_saw_what_the_reranker_kept(real_trace):
    found = passages(tracing.chunks(real_trace["dict"]))

    assert documents(*found) == [(4, A["doc_uri"], ["rerank"]), (5, C["doc_uri"], ["rerank"])]
    assert found[0]["span_id"] == real_trace["spans"]["rerank"]
    assert found[0]["content"] == A["content"]


def test_the_apps_context_span_picks_one_retriever(real_trace):
    chunks = tracing.chunks(real_trace["dict"])

    assert documents(*passages(chunks, "vector_search")) == [
        (2, A["doc_uri"], ["vector_search"]),
        (3, C["doc_uri"], ["vector_search"]),
    ]
    # A name no span has falls back to the default rule.
    assert documents(*passages(chunks, "no_such_span")) == documents(*passages(chunks))


def test_without_a_reranker_every_retriever_counts_and_a_shared_document_is_one_passage():
    chunks = [
        chunk(0, A, "keyword_search"),
        chunk(1, B, "keyword_search"),
        chunk(2, A, "vector_search"),
        chunk(3, C, "vector_search"),
    ]

    assert documents(*passages(chunks)) == [
        (0, A["doc_uri"], ["keyword_search", "vector_search"]),
        (1, B["doc_uri"], ["keyword_search"]),
        (3, C["doc_uri"], ["vector_search"]),
    ]
    # A rating stored for the duplicate counts for its passage.
    assert passage_positions(chunks) == {0: 0, 1: 1, 2: 0, 3: 3}


def test_the_same_uri_with_other_content_is_another_passage():
    chunks = [chunk(0, A, "r"), chunk(1, {**A, "content": "Another part of the page."}, "r")]

    assert [p["position"] for p in passages(chunks)] == [0, 1]


def test_of_several_rerankers_the_last_one_counts():
    chunks = [
        chunk(0, A, "search"),
        chunk(1, B, "first_pass", "RERANKER"),
        chunk(2, A, "first_pass", "RERANKER"),
        chunk(3, A, "second_pass", "RERANKER"),
    ]

    assert documents(*passages(chunks)) == [(3, A["doc_uri"], ["second_pass"])]
    # Its document rated where a retriever returned it still counts for the passage.
    assert passage_positions(chunks) == {0: 3, 2: 3, 3: 3}


def test_rows_stored_without_span_keys_give_the_chunks_they_always_gave():
    old = [{"position": 0, **A}, {"position": 1, **B}]

    assert passages(old) == [
        {"position": 0, **A, "spans": [], "span_id": ""},
        {"position": 1, **B, "spans": [], "span_id": ""},
    ]
    assert passages([]) == passages(None) == []


def test_a_span_id_in_hex_or_base64_is_the_one_mlflow_spans_carry():
    assert tracing.span_id({"span_id": "Mp3M3W9LD4U="}) == "329dccdd6f4b0f85"
    assert tracing.span_id({"span_id": "329DCCDD6F4B0F85"}) == "329dccdd6f4b0f85"
    assert tracing.span_id({"span_id": "not-an-id"}) == "not-an-id"


def test_a_rating_at_the_passage_wins_over_one_given_to_another_copy_of_its_document():
    chunks = [chunk(0, A, "search"), chunk(1, B, "search"), chunk(2, A, "rerank", "RERANKER")]
    copy = {"position": 0, "rating": "relevant"}
    at_passage = {"position": 2, "rating": "not_relevant"}

    assert ratings([copy, at_passage], chunks) == {2: at_passage}
    assert ratings([at_passage, copy], chunks) == {2: at_passage}
    assert ratings([copy], chunks) == {2: copy}
    # The context span makes the retriever's copy the passage; B's rating counts again.
    other = {"position": 1, "rating": "relevant"}
    assert ratings([copy, at_passage, other], chunks, "search") == {0: copy, 1: other}


def test_ratings_of_documents_the_model_did_not_see_are_left_out():
    chunks = [chunk(0, A, "search"), chunk(1, B, "search"), chunk(2, A, "rerank", "RERANKER")]

    assert ratings([{"position": 1, "rating": "relevant"}], chunks) == {}
    assert ratings(None, chunks) == ratings([], None) == {}
