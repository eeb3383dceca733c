"""The review item and the assessment are answered by plain functions (feedback.output): the bytes
they render are those of the serializers that stay the API's schema, for every kind of item."""

import datetime

import pytest
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from reviewapp.catalog.models import Level
from reviewapp.catalog.permissions import get_app_for
from reviewapp.chains import tracing
from reviewapp.feedback.access import visible_request
from reviewapp.feedback.items import review_item
from reviewapp.feedback.models import Assessment, MlflowSync
from reviewapp.feedback.output import assessment_out, review_item_out
from reviewapp.feedback.serializers import AssessmentOut, ReviewItemOut
from reviewapp.queues import services as queues
from tests import factories
from tests.feedback.helpers import feedback
from tests.requestlog.helpers import trace_dict

ODD = 'Non-BMP 𝄞 😀, HTML-ish <b onclick="x()">bold</b> &amp; </script>, replaced \ufffd, tab\tand\nnewline'
SPAN_CHUNKS = [
    {"position": 0, "doc_uri": "docs://a", "content": "Alpha", "span_name": "retrieve", "span_id": "s1"},
    {"position": 1, "doc_uri": "docs://a", "content": "Alpha", "span_name": "rerank", "span_id": "s2"},
    {"position": 2, "doc_uri": "docs://b", "content": "", "span_name": "retrieve"},
    {"position": 3, "doc_uri": "", "content": ODD},
]
TOP_LEVEL_SPANS = {"spans": [{"name": n, "start_time_unix_nano": t} for n, t in (("a", 3), ("b", 1))]}


def rendered(value) -> bytes:
    return JSONRenderer().render(value)


def requests_of_every_kind(app, asker):
    at = datetime.datetime(2026, 3, 1, 10, 0, 0, tzinfo=datetime.UTC)  # no microseconds: isoformat drops them
    return [
        factories.make_request(app, user=asker),
        factories.make_request(
            app,
            user=asker,
            trace=trace_dict("Q", "A", trace_id="tr-1", docs=(("docs://a", "Alpha"), ("docs://b", "Beta"))),
            mlflow_trace_id="tr-1",
            latency_ms=812,
            request_tokens=11,
            response_tokens=7,
            total_tokens=18,
            created_at=at,
        ),
        factories.make_request(app, user=asker, trace=TOP_LEVEL_SPANS, chunks=SPAN_CHUNKS, app_version=""),
        factories.make_request(
            app,
            user=asker,
            status="error",
            response="",
            error="Could not reach the chain at http://10.0.0.7:8080/invocations: [Errno 111] Connection refused",
            chunks=[],
            created_at=at + datetime.timedelta(microseconds=1),
        ),
        factories.make_request(app, user=asker, status="incomplete", response="Half an ans", latency_ms=0),
        factories.make_request(
            app,
            user=asker,
            conversation_id="conv <1>",
            mlflow_trace_id="tr-odd",
            question=ODD,
            response=ODD,
            messages=[
                {"role": "system", "content": None},
                {"role": "user", "content": ODD, "name": "𝄞"},
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [{"id": "t1", "arguments": {"q": [1, 2.5]}}],
                },
            ],
            chunks=[{"position": 0, "doc_uri": ODD, "content": ODD}],
        ),
    ]


def give_every_kind_of_feedback(app, requests, reader, manager):
    """Each request but the first gets a different kind of feedback from `reader`."""
    _plain, traced, spans, failed, incomplete, odd = requests
    feedback(traced, reader, rating="positive")
    feedback(spans, reader, rating="negative", reasons=["inaccurate", "other"], other_reason=ODD)
    feedback(
        spans,
        reader,
        comment=ODD,
        corrected_response="Better <i>answer</i> 😀",
        retrieval_assessments=[
            {"position": 0, "rating": "relevant", "comment": ODD},
            {"position": 2, "rating": "not_relevant"},
        ],
        missing_sources=[{"doc_uri": "docs://missing", "content": ODD}, {"content": "only text"}],
    )
    feedback(failed, reader, comment="It failed")
    queue, _ = queues.create_queue(app=app, name="Q", created_by=manager, request_ids=[incomplete.request_id])
    factories.make_assessment(incomplete, reader, "negative", queue=queue, instructions_version=3, comment="")
    row = factories.make_assessment(odd, reader, "", corrected_response=None, app_version="2.0 β")
    MlflowSync.objects.create(assessment=row, status=MlflowSync.Status.DONE)


@pytest.mark.parametrize("reader_is", ["manager", "querier"])
def test_the_review_item_renders_as_its_serializer_renders_it(reader_is, app, manager, querier):
    reader = {"manager": manager, "querier": querier}[reader_is]
    requests = requests_of_every_kind(app, querier)
    give_every_kind_of_feedback(app, requests, reader, manager)
    seen_as = get_app_for(reader, app.slug, "feedback")

    items = [
        review_item(visible_request(reader, seen_as, r.request_id, as_item=True), reader=reader, app=seen_as)
        for r in requests
    ]

    assert [item["feedback"] is not None for item in items] == [False, True, True, True, True, True]
    for item in items:
        assert rendered(review_item_out(item)) == rendered(ReviewItemOut(item).data), item["request_id"]
        with timezone.override(datetime.timezone(datetime.timedelta(hours=-5, minutes=-30))):
            assert rendered(review_item_out(item)) == rendered(ReviewItemOut(item).data), item["request_id"]


def test_every_assessment_renders_as_its_serializer_renders_it(app, manager, querier):
    requests = requests_of_every_kind(app, querier)
    give_every_kind_of_feedback(app, requests, querier, manager)
    traced = requests[1]
    just_recorded = feedback(traced, querier, comment="second thoughts")  # as the Feedback API answers it
    earlier = Assessment.objects.filter(request=traced).order_by("created_at", "id").first()
    rows = [
        just_recorded,
        *Assessment.objects.select_related("request", "app"),  # the earlier row is not effective
        *Assessment.objects.with_is_effective().select_related("request", "app", "mlflow_sync"),
    ]
    assert not AssessmentOut(earlier).data["effective"]

    for row in rows:
        assert rendered(assessment_out(row)) == rendered(AssessmentOut(row).data), row.pk
    assert {assessment_out(row)["mlflow_sync"] for row in rows} == {None, "pending", "done"}


def test_a_changed_format_would_show(app, querier):
    req = factories.make_request(app, user=querier)
    seen_as = get_app_for(querier, app.slug, "feedback")
    item = review_item(
        visible_request(querier, seen_as, req.request_id, as_item=True), reader=querier, app=seen_as
    )
    ours = review_item_out(item)

    ours["created_at"] = item["created_at"].isoformat()  # "+00:00" where DRF writes "Z"

    assert rendered(ours) != rendered(ReviewItemOut(item).data)


TRACES = [
    None,
    {},
    TOP_LEVEL_SPANS,
    {"data": {"spans": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}, "spans": [{"name": "d"}]},
    {"data": {"spans": []}, "spans": [{"name": "a"}, {"name": "b"}]},  # an empty list counts as none
    {"data": {}, "spans": [{"name": "a"}]},
    {"data": None, "spans": [{"name": "a"}]},
    {"data": {"spans": None}},
    {"info": {"trace_id": "tr"}},
    trace_dict("Q", "A"),
]


@pytest.mark.parametrize("trace", TRACES)
def test_the_item_counts_the_spans_the_trace_holds_without_reading_it(trace, app, querier):
    req = factories.make_request(app, user=querier, trace=trace)
    seen_as = get_app_for(querier, app.slug, "feedback")

    read = visible_request(querier, seen_as, req.request_id, as_item=True)

    assert "trace" in read.get_deferred_fields()
    assert read.trace_spans == len(tracing.spans(trace))
    assert review_item(read, reader=querier, app=seen_as)["trace"]["spans"] == len(tracing.spans(trace))


def test_a_queue_reviewer_reads_the_item_as_its_serializer_renders_it(app, manager, querier):
    reviewer = factories.make_user("reviewer@example.com")
    factories.grant(app, reviewer, Level.CAN_QUERY)
    req = factories.make_request(app, user=querier, chunks=SPAN_CHUNKS)
    queues.create_queue(app=app, name="Q", created_by=manager, request_ids=[req.request_id])
    feedback(req, reviewer, rating="positive", retrieval_assessments=[{"position": 3, "rating": "relevant"}])
    seen_as = get_app_for(reviewer, app.slug, "feedback")

    item = review_item(
        visible_request(reviewer, seen_as, req.request_id, as_item=True), reader=reviewer, app=seen_as
    )

    assert item["feedback"] is not None and item["trace"]["spans"] == 0
    assert rendered(review_item_out(item)) == rendered(ReviewItemOut(item).data)
