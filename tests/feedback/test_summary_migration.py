"""The data migration that sums the feedback given before summaries existed (feedback 0003)."""

import datetime as dt
import importlib
import uuid

import pytest

from reviewapp.feedback import summary
from reviewapp.feedback.models import FeedbackReason, FeedbackReviewer, RequestFeedback
from reviewapp.requestlog.models import Request
from tests import factories
from tests.migrating import back_at

BEFORE = [("feedback", "0002_sync_lock"), ("requestlog", "0003_request_text_altered_load_ms_incomplete")]
T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
SUMMED = [
    "reviewers",
    "up",
    "down",
    "verdict",
    "corrections",
    "missing_sources",
    "passages_rated",
    "passages_relevant",
    "first_relevant_rank",
    "rated_at_1",
    "relevant_at_1",
    "rated_at_3",
    "relevant_at_3",
    "rated_at_5",
    "relevant_at_5",
    "app_id",
    "app_version",
    "source",
    "request_created_at",
]


def chunks(*docs):
    """Chunks of one retriever span; a doc given as (uri, span name, span id) names its span."""
    docs = [doc if isinstance(doc, tuple) else (doc, "retrieve", "r") for doc in docs]
    return [
        {
            "position": position,
            "doc_uri": uri,
            "content": f"Text of {uri}",
            "span_type": "RETRIEVER",
            "span_name": name,
            "span_id": span_id,
        }
        for position, (uri, name, span_id) in enumerate(docs)
    ]


def rated(position, rating):
    return {"position": position, "doc_uri": "", "rating": rating, "comment": ""}


def values(request_id) -> dict:
    return RequestFeedback.objects.filter(request_id=request_id).values(*SUMMED).get()


@pytest.mark.django_db(transaction=True)
def test_the_migration_sums_the_feedback_given_before_it(monkeypatch):
    migration = importlib.import_module("reviewapp.feedback.migrations.0003_request_feedback_summary")
    monkeypatch.setattr(migration, "BATCH", 2)  # several keyset batches
    app = factories.make_app("support-bot")
    focused = factories.make_app("focused-bot", context_span="focused")
    a = factories.make_user("a@example.com")
    b = factories.make_user("b@example.com")
    ids = {name: uuid.uuid4() for name in ("mind", "tie", "chunks", "untouched", "span")}

    with back_at(*BEFORE) as (old, migrate_forward):
        OldRequest = old.get_model("requestlog", "Request")
        OldAssessment = old.get_model("feedback", "Assessment")

        def request(name, on=app, docs=("docs://a", "docs://b"), **extra):
            OldRequest.objects.create(
                request_id=ids[name],
                app_id=on.pk,
                app_version="3",
                conversation_id=name,
                source="rest_api",
                messages=[{"role": "user", "content": name}],
                chunks=chunks(*docs),
                created_at=T0,
                **extra,
            )

        def assess(name, who, rating="", at=T0, on=app, **fields):
            return OldAssessment.objects.create(
                request_id=ids[name],
                app_id=on.pk,
                reviewer_id=who.pk,
                source_id=who.email,
                rating=rating,
                created_at=at,
                **fields,
            )

        for name in ("mind", "tie", "chunks", "untouched"):
            request(name)
        request(
            "span",
            on=focused,
            docs=[("docs://a", "broad", "s1"), ("docs://b", "focused", "s2"), ("docs://c", "focused", "s2")],
        )
        # a changed their mind (negative, then positive); b's thumbs down stands.
        assess("mind", a, "negative", reasons=["inaccurate"])
        assess("mind", a, "positive", at=T0 + dt.timedelta(minutes=1), reasons=["inaccurate"])
        assess("mind", b, "negative", reasons=["inaccurate", "incomplete"])
        # Two rows at the same instant: the later id is the one in force.
        assess("tie", a, "positive")
        assess("tie", a, "negative", reasons=["irrelevant"])
        # Chunk ratings, a correction and a missing source.
        assess("chunks", a, retrieval_assessments=[rated(1, "relevant")], corrected_response="Better.")
        assess(
            "chunks",
            b,
            "positive",
            retrieval_assessments=[rated(0, "not_relevant"), rated(1, "relevant")],
            missing_sources=[{"doc_uri": "docs://z", "content": ""}],
        )
        # The focused span saw b (rank 1) and c (rank 2); a's rating of a counts for nothing.
        assess(
            "span",
            a,
            "positive",
            on=focused,
            retrieval_assessments=[rated(0, "relevant"), rated(2, "relevant")],
        )

        migrate_forward()

    assert RequestFeedback.objects.count() == 4
    assert not RequestFeedback.objects.filter(request_id=ids["untouched"]).exists()
    mind = values(ids["mind"])
    assert (mind["reviewers"], mind["up"], mind["down"], mind["verdict"]) == (2, 1, 1, "mixed")
    assert (mind["app_id"], mind["app_version"], mind["source"], mind["request_created_at"]) == (
        app.pk,
        "3",
        "rest_api",
        T0,
    )
    assert dict(FeedbackReason.objects.filter(request_id=ids["mind"]).values_list("reason", "votes")) == {
        "inaccurate": 1,
        "incomplete": 1,
    }
    tie = values(ids["tie"])
    assert (tie["reviewers"], tie["up"], tie["down"], tie["verdict"]) == (1, 0, 1, "negative")
    assert list(FeedbackReason.objects.filter(request_id=ids["tie"]).values_list("reason", "votes")) == [
        ("irrelevant", 1)
    ]
    rated_chunks = values(ids["chunks"])
    assert (rated_chunks["verdict"], rated_chunks["corrections"], rated_chunks["missing_sources"]) == (
        "positive",
        1,
        1,
    )
    assert (
        rated_chunks["passages_rated"],
        rated_chunks["passages_relevant"],
        rated_chunks["first_relevant_rank"],
        rated_chunks["rated_at_1"],
        rated_chunks["relevant_at_1"],
    ) == (2, 1, 2, 1, 0)
    span = values(ids["span"])
    assert (
        span["app_id"],
        span["passages_rated"],
        span["passages_relevant"],
        span["first_relevant_rank"],
    ) == (
        focused.pk,
        1,
        1,
        2,
    )

    # Each reviewer with feedback is listed once per request, under the request's version and time.
    listed = set(
        FeedbackReviewer.objects.values_list("request_id", "reviewer_id", "app_version", "request_created_at")
    )
    assert listed == {
        (ids["mind"], a.pk, "3", T0),
        (ids["mind"], b.pk, "3", T0),
        (ids["tie"], a.pk, "3", T0),
        (ids["chunks"], a.pk, "3", T0),
        (ids["chunks"], b.pk, "3", T0),
        (ids["span"], a.pk, "3", T0),
    }

    # What the migration summed is what each new assessment's refresh sums.
    migrated = {
        request_id: values(request_id) for request_id in RequestFeedback.objects.values_list("pk", flat=True)
    }
    for request_id in migrated:
        summary.refresh(Request.objects.select_related("app").get(pk=request_id))
    assert {request_id: values(request_id) for request_id in migrated} == migrated
