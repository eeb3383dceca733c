"""Every reader of chunk ratings (panel, validation, exports, MLflow items, dashboard) reads a
reviewer's ratings the same way, also after the app's context span moved a passage."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from reviewapp.exports.rows import resolve
from reviewapp.exports.selection import Filters, iter_reviewed
from reviewapp.feedback.mlflow_sync import items_for
from reviewapp.feedback.models import Assessment
from reviewapp.feedback.panel import panel_state
from reviewapp.monitoring.quality import Window, quality
from tests import factories
from tests.feedback.helpers import feedback

ROTATE = {"doc_uri": "docs://tokens#rotate", "content": "Tokens can be rotated in Settings."}
REVOKE = {"doc_uri": "docs://tokens#revoke", "content": "Revoked tokens stop working at once."}


def chunk(position, document, span_name, span_type):
    return {
        "position": position,
        **document,
        "span_name": span_name,
        "span_id": span_name,
        "span_type": span_type,
    }


# The reranker kept the retriever's first document: by default the model saw position 2 only.
CHUNKS = [
    chunk(0, ROTATE, "keyword_search", "RETRIEVER"),
    chunk(1, REVOKE, "keyword_search", "RETRIEVER"),
    chunk(2, ROTATE, "rerank", "RERANKER"),
]


@pytest.fixture
def req(app):
    return factories.make_request(app, chunks=CHUNKS)


def chunk_precision(app):
    """The dashboard's chunk precision of the app's one version today: (relevant, rated) passages."""
    now = timezone.now()
    [version] = quality(app, Window(since=now - timedelta(days=1), until=now + timedelta(days=1))).versions
    return version.total.chunk_precision.hits, version.total.chunk_precision.total


def point_context_at_the_retriever(app):
    app.context_span = "keyword_search"
    app.save(update_fields=["context_span"])


def what_each_reader_says(req, reviewer) -> dict:
    req.refresh_from_db()
    row = Assessment.objects.effective_for(req, reviewer)
    panel = {c.position: c.rating for c in panel_state(request=req, reviewer=reviewer).chunks if c.rating}
    [item] = iter_reviewed(app=req.app, filters=Filters())
    exported = {
        p: "relevant" if yes else "not_relevant" for p, yes in resolve(item, "latest").relevant.items()
    }
    mlflow = {
        i["position"]: "relevant" if i["value"] else "not_relevant"
        for i in items_for(row).values()
        if i["name"] == "chunk_relevance"
    }
    return {"panel": panel, "export": exported, "mlflow": mlflow}


def test_a_rating_of_the_passage_replaces_the_one_given_to_another_copy_of_its_document(app, req, manager):
    feedback(req, manager, rating="positive", retrieval_assessments=[{"position": 2, "rating": "relevant"}])
    point_context_at_the_retriever(app)
    req.refresh_from_db()

    # The rating given to the reranker's copy still counts for the passage, everywhere.
    assert what_each_reader_says(req, manager) == dict.fromkeys(
        ("panel", "export", "mlflow"), {0: "relevant"}
    )

    feedback(req, manager, retrieval_assessments=[{"position": 0, "rating": "not_relevant"}])

    assert what_each_reader_says(req, manager) == dict.fromkeys(
        ("panel", "export", "mlflow"), {0: "not_relevant"}
    )
    stored = Assessment.objects.effective_for(req, manager).retrieval_assessments
    assert [(i["position"], i["rating"]) for i in stored] == [(0, "not_relevant")]


def test_clearing_the_passage_clears_the_rating_of_another_copy_too(app, req, manager):
    feedback(req, manager, rating="positive", retrieval_assessments=[{"position": 2, "rating": "relevant"}])
    point_context_at_the_retriever(app)
    req.refresh_from_db()

    feedback(req, manager, retrieval_assessments=[{"position": 0, "rating": None}])

    assert what_each_reader_says(req, manager) == dict.fromkeys(("panel", "export", "mlflow"), {})
    assert Assessment.objects.effective_for(req, manager).retrieval_assessments == []
    # The copy is no passage now, so it cannot be rated on its own.
    with pytest.raises(ValidationError, match="position 2 is not a passage"):
        feedback(req, manager, retrieval_assessments=[{"position": 2, "rating": None}])


def test_a_row_holding_both_copies_is_read_by_the_one_at_the_passage(app, req, manager):
    point_context_at_the_retriever(app)
    req.refresh_from_db()
    # Stored so by an earlier version: the reranker copy rated, then the passage itself.
    factories.make_assessment(
        req,
        manager,
        "positive",
        retrieval_assessments=[
            {"position": 0, "doc_uri": ROTATE["doc_uri"], "rating": "not_relevant", "comment": ""},
            {"position": 2, "doc_uri": ROTATE["doc_uri"], "rating": "relevant", "comment": ""},
        ],
    )

    assert what_each_reader_says(req, manager) == dict.fromkeys(
        ("panel", "export", "mlflow"), {0: "not_relevant"}
    )
    assert chunk_precision(app) == (0, 1)


def test_a_rating_of_a_document_the_model_did_not_see_counts_nowhere(app, req, manager):
    # Rated while every retriever counted; the reranker came later and kept only the first page.
    factories.make_assessment(
        req,
        manager,
        "positive",
        retrieval_assessments=[
            {"position": 1, "doc_uri": REVOKE["doc_uri"], "rating": "relevant", "comment": ""},
        ],
    )

    assert what_each_reader_says(req, manager) == dict.fromkeys(("panel", "export", "mlflow"), {})
    assert chunk_precision(app) == (0, 0)
