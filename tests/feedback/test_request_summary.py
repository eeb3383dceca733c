"""Each request's effective feedback, summed in RequestFeedback (and FeedbackReason) by
summary.catch_up, which every reader calls first, and summed again by a background job when the app's context span
changes (tests/feedback/test_rebuild_job.py runs it on a real worker)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reviewapp.catalog import services as catalog
from reviewapp.catalog.models import Level
from reviewapp.feedback import summary
from reviewapp.feedback.models import Assessment, FeedbackReason, RequestFeedback
from reviewapp.feedback.services import record_feedback
from reviewapp.jobs.models import Job
from reviewapp.jobs.services import run_job
from tests import factories


def chunk(position, doc_uri, content, span_type="RETRIEVER", span_name="retrieve", span_id="r"):
    return {
        "position": position,
        "doc_uri": doc_uri,
        "content": content,
        "span_type": span_type,
        "span_name": span_name,
        "span_id": span_id,
    }


def plain_chunks(n: int) -> list[dict]:
    """`n` distinct documents from one retriever: passage rank k is position k - 1."""
    return [chunk(p, f"docs://page-{p}", f"Text of page {p}.") for p in range(n)]


def rate(**by_position) -> list[dict]:
    """Chunk ratings, e.g. rate(p0="relevant", p3="not_relevant")."""
    return [{"position": int(key[1:]), "rating": value} for key, value in by_position.items()]


def feedback(request, reviewer, **changes):
    return record_feedback(request=request, reviewer=reviewer, changes=changes).assessment


def summed(request) -> RequestFeedback:
    summary.catch_up()  # as every reader of the summaries does
    return RequestFeedback.objects.get(request=request)


def reasons_of(request) -> dict[str, int]:
    summary.catch_up()
    return dict(FeedbackReason.objects.filter(request_id=request.pk).values_list("reason", "votes"))


def reviewer(app, email: str):
    user = factories.make_user(email)
    factories.grant(app, user, Level.CAN_QUERY)
    return user


@pytest.fixture
def second(app):
    return reviewer(app, "second@example.com")


@pytest.fixture
def third(app):
    return reviewer(app, "third@example.com")


def test_a_request_without_feedback_has_no_summary(app):
    request = factories.make_request(app)

    assert not RequestFeedback.objects.filter(request=request).exists()


def test_the_summary_copies_the_requests_version_source_and_time(app, querier):
    request = factories.make_request(app, app_version="7", source="rest_api")

    feedback(request, querier, rating="positive")

    row = summed(request)
    assert (row.app_id, row.app_version, row.source) == (app.pk, "7", "rest_api")
    assert row.request_created_at == request.created_at


def test_a_change_of_mind_replaces_the_summary_and_its_reasons(app, querier):
    request = factories.make_request(app)

    feedback(request, querier, rating="negative", reasons=["inaccurate", "incomplete"])
    row = summed(request)
    assert (row.reviewers, row.up, row.down, row.verdict) == (1, 0, 1, "negative")
    assert reasons_of(request) == {"inaccurate": 1, "incomplete": 1}

    # The reasons stay on the row (the form keeps them) but are no longer a thumbs down's.
    feedback(request, querier, rating="positive")
    row = summed(request)
    assert (row.reviewers, row.up, row.down, row.verdict) == (1, 1, 0, "positive")
    assert Assessment.objects.filter(request=request).latest_per_reviewer().get().reasons == [
        "inaccurate",
        "incomplete",
    ]
    assert reasons_of(request) == {}
    assert RequestFeedback.objects.count() == 1


def test_two_reviewers_who_disagree_make_a_mixed_verdict(app, querier, second):
    request = factories.make_request(app)

    feedback(request, querier, rating="positive")
    feedback(request, second, rating="negative", reasons=["irrelevant"])

    row = summed(request)
    assert (row.reviewers, row.up, row.down, row.verdict) == (2, 1, 1, "mixed")
    assert reasons_of(request) == {"irrelevant": 1}


def test_feedback_without_a_rating_counts_as_reviewed_but_unrated(app, querier, second):
    request = factories.make_request(app)

    feedback(request, querier, comment="Looks plausible, not sure.")
    row = summed(request)
    assert (row.reviewers, row.up, row.down, row.verdict) == (1, 0, 0, "")

    feedback(request, second, rating="positive")
    row = summed(request)
    assert (row.reviewers, row.up, row.verdict) == (2, 1, "positive")


def test_reasons_are_counted_per_reviewer_from_the_thumbs_down_in_force_only(app, querier, second, third):
    request = factories.make_request(app)

    feedback(request, querier, rating="negative", reasons=["inaccurate", "incomplete"])
    feedback(request, second, rating="negative", reasons=["inaccurate"])
    # A thumbs up with reasons (kept from a thumbs down before) gives none.
    feedback(request, third, rating="negative", reasons=["harmful or unsafe"])
    feedback(request, third, rating="positive")

    assert reasons_of(request) == {"inaccurate": 2, "incomplete": 1}
    row = FeedbackReason.objects.get(request_id=request.pk, reason="inaccurate")
    assert (row.app_id, row.app_version, row.request_created_at) == (
        app.pk,
        request.app_version,
        request.created_at,
    )
    assert summed(request).verdict == "mixed"


def test_passages_are_ranked_as_the_model_saw_them_and_duplicates_are_merged(app, querier, second, third):
    # The retriever returned A, B, C; the reranker kept C then A, and returned C twice.
    chunks = [
        chunk(0, "docs://a", "alpha"),
        chunk(1, "docs://b", "beta"),
        chunk(2, "docs://c", "gamma"),
        chunk(3, "docs://c", "gamma", "RERANKER", "rerank", "k"),
        chunk(4, "docs://a", "alpha", "RERANKER", "rerank", "k"),
        chunk(5, "docs://c", "gamma", "RERANKER", "rerank", "k"),
    ]
    request = factories.make_request(app, chunks=chunks)
    assert [p["position"] for p in request.passages()] == [3, 4]

    feedback(
        request, querier, rating="positive", retrieval_assessments=rate(p3="not_relevant", p4="relevant")
    )
    row = summed(request)
    assert (row.passages_rated, row.passages_relevant, row.first_relevant_rank) == (2, 1, 2)
    assert (row.rated_at_1, row.relevant_at_1, row.rated_at_3, row.relevant_at_3) == (1, 0, 2, 1)

    # A row stored before duplicates were merged: its rating of the second copy of C counts for C
    # (a split now: not relevant), and its rating of B, which the model never saw, counts for nothing.
    factories.make_assessment(
        request,
        second,
        "positive",
        retrieval_assessments=[
            {"position": 5, "doc_uri": "docs://c", "rating": "relevant", "comment": ""},
            {"position": 1, "doc_uri": "docs://b", "rating": "relevant", "comment": ""},
        ],
    )
    row = summed(request)
    assert (row.passages_rated, row.passages_relevant, row.first_relevant_rank) == (2, 1, 2)

    # A third opinion on C makes it relevant: two of three.
    feedback(request, third, retrieval_assessments=rate(p3="relevant"))
    row = summed(request)
    assert (row.passages_rated, row.passages_relevant, row.first_relevant_rank) == (2, 2, 1)
    assert (row.rated_at_1, row.relevant_at_1, row.rated_at_3, row.relevant_at_3) == (1, 1, 2, 2)


def test_a_split_vote_is_not_relevant(app, querier, second):
    request = factories.make_request(app)

    feedback(request, querier, retrieval_assessments=rate(p0="relevant"))
    assert summed(request).passages_relevant == 1
    feedback(request, second, retrieval_assessments=rate(p0="not_relevant"))

    row = summed(request)
    assert (row.passages_rated, row.passages_relevant, row.first_relevant_rank) == (1, 0, None)
    assert (row.rated_at_1, row.relevant_at_1) == (1, 0)


def test_precision_at_1_3_and_5_count_the_first_k_passages(app, querier):
    request = factories.make_request(app, chunks=plain_chunks(6))

    feedback(
        request,
        querier,
        retrieval_assessments=rate(p0="not_relevant", p1="relevant", p3="relevant", p5="relevant"),
    )

    row = summed(request)
    assert (row.passages_rated, row.passages_relevant, row.first_relevant_rank) == (4, 3, 2)
    assert (row.rated_at_1, row.relevant_at_1) == (1, 0)
    assert (row.rated_at_3, row.relevant_at_3) == (2, 1)
    assert (row.rated_at_5, row.relevant_at_5) == (3, 2)


def test_clearing_a_chunk_rating_takes_it_out_of_the_sums(app, querier):
    request = factories.make_request(app)
    feedback(request, querier, retrieval_assessments=rate(p0="relevant", p1="relevant"))

    feedback(request, querier, retrieval_assessments=[{"position": 0, "rating": None}])

    row = summed(request)
    assert (row.passages_rated, row.passages_relevant, row.first_relevant_rank) == (1, 1, 2)


def test_corrections_and_missing_sources_count_reviewers_in_force(app, querier, second):
    request = factories.make_request(app)

    feedback(request, querier, rating="negative", corrected_response="Press Rotate twice.")
    feedback(request, second, rating="negative", missing_sources=[{"doc_uri": "docs://tokens#expiry"}])
    row = summed(request)
    assert (row.corrections, row.missing_sources) == (1, 1)

    feedback(request, second, corrected_response="Rotate, then copy the new token.")
    assert (summed(request).corrections, summed(request).missing_sources) == (2, 1)

    # A blank correction clears it; so does an empty list of missing sources.
    feedback(request, querier, corrected_response="   ")
    feedback(request, second, missing_sources=[])
    assert (summed(request).corrections, summed(request).missing_sources) == (1, 0)


def test_an_older_row_with_an_empty_correction_is_no_correction(app, querier):
    request = factories.make_request(app)

    factories.make_assessment(request, querier, "positive", corrected_response="")

    assert summed(request).corrections == 0


def test_feedback_that_changes_nothing_leaves_the_summary_alone(app, querier):
    request = factories.make_request(app)
    feedback(request, querier, rating="positive")
    before = summed(request).updated_at

    again = record_feedback(request=request, reviewer=querier, changes={"rating": "positive"})

    assert not again.created
    assert summed(request).updated_at == before


def test_a_refused_assessment_writes_no_summary(app, querier):
    from django.core.exceptions import ValidationError

    request = factories.make_request(app)

    with pytest.raises(ValidationError):
        record_feedback(request=request, reviewer=querier, changes={"rating": "sideways"})

    assert not RequestFeedback.objects.filter(request=request).exists()


# --- the context span ---


def run_rebuilds() -> int:
    """Run the queued rebuild jobs, oldest first, as a worker would; how many ran."""
    jobs = Job.objects.filter(kind=summary.REBUILD_KIND, status="queued").order_by("created_at")
    return sum(run_job(str(job.pk), summary.rebuild_job).status == "succeeded" for job in jobs)


def two_span_chunks() -> list[dict]:
    """One retriever span ("broad": A, B) and a named second one ("focused": B, C)."""
    return [
        chunk(0, "docs://a", "alpha", span_name="broad", span_id="s1"),
        chunk(1, "docs://b", "beta", span_name="broad", span_id="s1"),
        chunk(2, "docs://b", "beta", span_name="focused", span_id="s2"),
        chunk(3, "docs://c", "gamma", span_name="focused", span_id="s2"),
    ]


def test_a_context_span_change_sums_the_apps_requests_again(app, manager, querier):
    request = factories.make_request(app, chunks=two_span_chunks())
    # No context span: every retriever span is seen, so the passages are A (0), B (1) and C (3).
    feedback(request, querier, retrieval_assessments=rate(p0="not_relevant", p1="relevant", p3="relevant"))
    assert (summed(request).passages_rated, summed(request).first_relevant_rank) == (3, 2)

    catalog.update_app(actor=manager, app=app, changes={"context_span": "focused"})
    # The settings request only queued the rebuild: until it runs, the old span's sums stay.
    assert (summed(request).passages_rated, summed(request).first_relevant_rank) == (3, 2)
    assert run_rebuilds() == 1

    # Now only B (rated at its copy, position 1) and C were seen, in that order.
    row = summed(request)
    assert (row.passages_rated, row.passages_relevant, row.first_relevant_rank) == (2, 2, 1)
    assert (row.rated_at_1, row.relevant_at_1) == (1, 1)

    catalog.update_app(actor=manager, app=app, changes={"context_span": ""})
    assert run_rebuilds() == 1
    assert (summed(request).passages_rated, summed(request).first_relevant_rank) == (3, 2)


def test_a_context_span_change_rebuilds_only_that_apps_summaries(app, manager, querier, monkeypatch):
    monkeypatch.setattr(summary, "REBUILD_BATCH", 2)  # several batches
    requests = [factories.make_request(app, chunks=two_span_chunks()) for _ in range(5)]
    for request in requests:
        feedback(request, querier, rating="positive", retrieval_assessments=rate(p0="relevant"))
    other_app = factories.make_app("other-bot")
    other_request = factories.make_request(other_app, chunks=two_span_chunks())
    outsider_reviewer = factories.make_user("elsewhere@example.com")
    factories.make_assessment(other_request, outsider_reviewer, "negative")
    summary.catch_up()
    # Spoil every sum: what the rebuild recomputes comes back right, what it must not touch stays spoiled.
    RequestFeedback.objects.update(up=99)

    catalog.update_app(actor=manager, app=app, changes={"context_span": "focused"})
    job = Job.objects.get(kind=summary.REBUILD_KIND)
    assert (job.app_id, job.created_by_id, job.status) == (app.pk, manager.pk, "queued")
    assert run_rebuilds() == 1
    assert Job.objects.get(pk=job.pk).result == {"summaries": 5}

    assert list(RequestFeedback.objects.filter(app=app).values_list("up", flat=True)) == [1] * 5
    # Position 0 (A) is not a passage of the "focused" span: its rating no longer counts.
    assert set(RequestFeedback.objects.filter(app=app).values_list("passages_rated", flat=True)) == {0}
    assert summed(other_request).up == 99


def test_a_change_of_other_settings_does_not_rebuild(app, manager, querier):
    request = factories.make_request(app)
    feedback(request, querier, rating="positive")
    summary.catch_up()
    RequestFeedback.objects.filter(request=request).update(up=99)

    catalog.update_app(actor=manager, app=app, changes={"name": "Renamed bot"})

    assert not Job.objects.filter(kind=summary.REBUILD_KIND).exists()
    assert summed(request).up == 99


def test_a_rebuild_reads_the_requests_it_sums_without_their_traces(app, querier):
    request = factories.make_request(app, trace={"info": {"trace_id": "tr-1"}, "data": {"spans": []}})
    feedback(request, querier, rating="positive")

    with CaptureQueriesContext(connection) as queries:
        assert summary.rebuild(app) == 1

    read = [q["sql"] for q in queries if 'FROM "requestlog_request"' in q["sql"]]
    assert read and all('"trace"' not in sql for sql in read)


def test_feedback_written_after_a_context_span_change_sums_with_the_new_span(app, manager, querier, second):
    request = factories.make_request(app, chunks=two_span_chunks())
    feedback(request, querier, retrieval_assessments=rate(p0="relevant"))
    # Loaded before the change, as a request being handled while the manager saves the settings.
    loaded_before = type(request).objects.select_related("app").get(pk=request.pk)
    catalog.update_app(actor=manager, app=app, changes={"context_span": "focused"})
    assert run_rebuilds() == 1
    assert summed(request).passages_rated == 0

    feedback(loaded_before, second, rating="positive")

    assert (summed(request).up, summed(request).passages_rated) == (1, 0)
