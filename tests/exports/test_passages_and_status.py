"""Exports read passages (each document once, what the model saw) and know incomplete answers."""

import pytest

from reviewapp.exports.rows import evaluation_rows, judge_examples, mlflow_record, resolve
from reviewapp.exports.selection import Filters, iter_reviewed
from reviewapp.requestlog.models import Request
from tests import factories
from tests.exports.helpers import review, tick

ROTATE = {"doc_uri": "docs://tokens#rotate", "content": "Tokens can be rotated in Settings."}
REVOKE = {"doc_uri": "docs://tokens#revoke", "content": "Revoked tokens stop working at once."}
EXPIRY = {"doc_uri": "docs://tokens#expiry", "content": "Tokens expire after ninety days."}


SPAN_IDS = {
    "keyword_search": "00000000000000a1",
    "vector_search": "00000000000000a2",
    "rerank": "00000000000000b1",
}


def chunk(position, document, span_name, span_type="RETRIEVER"):
    return {
        "position": position,
        **document,
        "span_name": span_name,
        "span_id": SPAN_IDS[span_name],
        "span_type": span_type,
    }


# Two retrievers returning the same page; no reranker, so both count.
TWO_RETRIEVERS = [
    chunk(0, ROTATE, "keyword_search"),
    chunk(1, REVOKE, "keyword_search"),
    chunk(2, ROTATE, "vector_search"),
    chunk(3, EXPIRY, "vector_search"),
]


def rated(*ratings):
    return [{"position": p, "doc_uri": "", "rating": r, "comment": ""} for p, r in ratings]


@pytest.fixture
def second(app):
    return factories.make_user("second@example.com")


def asked(app, **extra):
    extra.setdefault("chunks", TWO_RETRIEVERS)
    return factories.make_request(app, created_at=tick(), **extra)


def rows_for(app, include_outputs=False, rule="majority", **filters):
    items = iter_reviewed(app=app, filters=Filters(**filters))
    return [row for _, row in evaluation_rows(items, rule=rule, include_outputs=include_outputs)]


def examples_for(app, rule="majority"):
    found = []
    for item in iter_reviewed(app=app, filters=Filters()):
        verdict = resolve(item, rule)
        if verdict is not None:
            found += judge_examples(item, verdict)
    return found


def test_a_document_two_retrievers_returned_is_expected_and_retrieved_once(app, manager):
    req = asked(app)
    review(req, manager, "positive", retrieval_assessments=rated((0, "relevant"), (3, "relevant")))

    [row] = rows_for(app, include_outputs=True)

    assert row["expected_retrieved_context"] == [ROTATE, EXPIRY]
    assert row["retrieved_context"] == [ROTATE, REVOKE, EXPIRY]


def test_ratings_stored_for_a_duplicate_count_for_its_passage_and_never_contradict(app, manager, second):
    req = asked(app)
    # Stored before duplicates were merged: one reviewer rated the first copy, one the second.
    review(req, manager, "positive", retrieval_assessments=rated((0, "relevant")))
    review(req, second, "positive", retrieval_assessments=rated((2, "not_relevant")))

    # Majority: a tie on the one document, so it is left out rather than given twice.
    assert [e for e in examples_for(app) if e.judge == "chunk_relevance"] == []
    latest = [e for e in examples_for(app, rule="latest") if e.judge == "chunk_relevance"]
    assert [(e.chunk_position, e.value, e.fields["context"]) for e in latest] == [
        (0, False, ROTATE["content"])
    ]


def test_a_reranker_decides_what_the_model_saw(app, manager):
    chunks = [*TWO_RETRIEVERS, chunk(4, EXPIRY, "rerank", "RERANKER"), chunk(5, ROTATE, "rerank", "RERANKER")]
    req = asked(app, chunks=chunks)
    review(req, manager, "positive", retrieval_assessments=rated((4, "relevant"), (5, "not_relevant")))

    [row] = rows_for(app, include_outputs=True)
    assert row["retrieved_context"] == [EXPIRY, ROTATE]
    assert row["expected_retrieved_context"] == [EXPIRY]
    chunk_examples = [e for e in examples_for(app) if e.judge == "chunk_relevance"]
    assert [(e.chunk_position, e.value) for e in chunk_examples] == [(4, True), (5, False)]


def test_the_apps_context_span_picks_the_retriever_exports_read(app, manager):
    app.context_span = "vector_search"
    app.save(update_fields=["context_span"])
    req = asked(app)
    # A rating given to the keyword retriever's copy of the page counts for the vector one's.
    review(req, manager, "positive", retrieval_assessments=rated((0, "relevant"), (1, "relevant")))

    [row] = rows_for(app, include_outputs=True)
    assert row["retrieved_context"] == [ROTATE, EXPIRY]
    assert row["expected_retrieved_context"] == [ROTATE]


def test_a_thumbs_up_on_an_incomplete_answer_does_not_make_it_the_expected_response(app, manager):
    partial = asked(app, status=Request.Status.INCOMPLETE, response="Open Settings, then", error="cut off")
    review(partial, manager, "positive", retrieval_assessments=rated((0, "relevant")))

    [row] = rows_for(app, include_outputs=True)

    assert row["expected_response"] is None
    assert row["expected_retrieved_context"] == [ROTATE]
    assert (row["response"], row["status"]) == ("Open Settings, then", "incomplete")
    [item] = iter_reviewed(app=app, filters=Filters())
    record = mlflow_record(item, row)
    assert record["tags"] == {"status": "incomplete"} and "expected_response" not in record["expectations"]


def test_a_correction_of_an_incomplete_answer_is_its_expected_response(app, manager):
    partial = asked(app, status=Request.Status.INCOMPLETE, response="Open Settings, then", chunks=[])
    review(
        partial, manager, "positive", corrected_response="Open Settings, then API tokens, and press Rotate."
    )
    thumbs_only = asked(app, status=Request.Status.INCOMPLETE, response="Open", chunks=[])
    review(thumbs_only, manager, "positive")

    [row] = rows_for(app)

    assert row["request_id"] == str(partial.request_id)
    assert row["expected_response"] == "Open Settings, then API tokens, and press Rotate."


def test_judge_examples_carry_the_status_and_skip_correctness_for_a_partial_answer(app, manager):
    partial = asked(app, status=Request.Status.INCOMPLETE, response="Open Settings, then")
    review(partial, manager, "positive")

    found = examples_for(app)

    assert {e.judge for e in found} == {"groundedness", "relevance_to_query"}
    assert {e.as_row()["status"] for e in found} == {"incomplete"}


def test_the_curation_can_pick_by_the_answers_status(app, manager, as_user):
    complete = asked(app)
    partial = asked(app, status=Request.Status.INCOMPLETE, response="Open")
    for req in (complete, partial):
        review(req, manager, "positive", corrected_response="Fixed.")

    picked = list(iter_reviewed(app=app, filters=Filters(status="incomplete")))
    assert [(i.request_id, i.status) for i in picked] == [(str(partial.request_id), "incomplete")]
    page = as_user(manager).get(f"/apps/{app.slug}/curate/", {"status": "incomplete"})
    assert page.status_code == 200
    assert page.context["matching"] == 1
    assert page.content.decode().count('data-testid="answer-status"') == 1
    bad = as_user(manager).post(
        f"/api/v1/apps/{app.slug}/evaluation-sets",
        data={"name": "partial", "filters": {"status": "half-done"}},
        content_type="application/json",
    )
    assert bad.status_code == 400 and "status" in bad.json()["filters"]


def test_judge_examples_of_a_request_without_a_trace_land_on_the_span_named_like_the_original(app, manager):
    from reviewapp.chains.mlflow_setup import configure
    from reviewapp.exports import services
    from reviewapp.exports.judge_examples import export_judge_examples
    from reviewapp.exports.mlflow_step import log_judge_export
    from reviewapp.jobs.services import run_job

    req = asked(app, source=Request.Source.IMPORT)
    review(req, manager, "positive", retrieval_assessments=rated((0, "relevant"), (3, "not_relevant")))
    job = services.start_judge_export(app=app, user=manager, filters=Filters(), judges=["chunk_relevance"])
    job = run_job(str(job.id), export_judge_examples)

    log_judge_export(export_id=job.judge_export.pk)

    req.refresh_from_db()
    trace = configure().get_trace(req.mlflow_trace_id)
    spans = {s.name: s for s in trace.data.spans}
    assert {name: s.span_type for name, s in spans.items() if name != "reviewapp_request"} == {
        "keyword_search": "RETRIEVER",
        "vector_search": "RETRIEVER",
    }
    assert [len(spans[name].outputs) for name in ("keyword_search", "vector_search")] == [2, 2]
    judged = {a.metadata["chunk_position"]: a for a in trace.info.assessments if a.name == "chunk_relevance"}
    assert {p: (a.value, a.span_id) for p, a in judged.items()} == {
        "0": (True, spans["keyword_search"].span_id),
        "3": (False, spans["vector_search"].span_id),
    }


def test_the_curation_says_part_way_only_of_an_incomplete_answer(app, manager, as_user):
    review(asked(app, status=Request.Status.INCOMPLETE, response="Open"), manager, "positive")
    review(asked(app, status=Request.Status.ERROR, response="", error="boom"), manager, "negative")

    html = as_user(manager).get(f"/apps/{app.slug}/curate/").content.decode()

    assert html.count("The answer stopped part-way") == 1
    assert html.count("The chain failed") == 1
