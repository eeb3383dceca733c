import uuid

import pytest
from django.core.exceptions import ValidationError

from reviewapp.catalog.models import ReviewInstructions
from reviewapp.feedback.models import Assessment, MlflowSync
from reviewapp.feedback.services import record_feedback
from tests import factories


@pytest.fixture
def req(app, querier):
    return factories.make_request(app, user=querier)


def test_a_change_of_mind_writes_a_new_complete_row_and_keeps_the_history(req, querier):
    first = record_feedback(
        request=req, reviewer=querier, changes={"rating": "negative", "reasons": ["inaccurate"]}
    ).assessment
    second = record_feedback(request=req, reviewer=querier, changes={"comment": "Step 2 is wrong"}).assessment
    third = record_feedback(request=req, reviewer=querier, changes={"rating": "positive"}).assessment

    assert Assessment.objects.filter(request=req).count() == 3
    assert (second.rating, second.reasons, second.comment) == ("negative", ["inaccurate"], "Step 2 is wrong")
    assert (third.rating, third.reasons, third.comment) == ("positive", ["inaccurate"], "Step 2 is wrong")
    assert list(Assessment.objects.latest_per_reviewer().filter(request=req)) == [third]
    first.refresh_from_db()
    assert first.rating == "negative" and first.comment == ""


def test_each_reviewer_has_their_own_effective_row(req, querier, manager):
    record_feedback(request=req, reviewer=querier, changes={"rating": "negative"})
    record_feedback(request=req, reviewer=manager, changes={"rating": "positive"})
    record_feedback(request=req, reviewer=querier, changes={"rating": "positive"})

    effective = Assessment.objects.latest_per_reviewer().filter(request=req)
    assert sorted((a.source_id, a.rating) for a in effective) == [
        ("manager@example.com", "positive"),
        ("querier@example.com", "positive"),
    ]


def test_the_same_assessment_id_twice_stores_once(req, querier):
    key = uuid.uuid4()
    first = record_feedback(request=req, reviewer=querier, changes={"rating": "negative"}, assessment_id=key)
    again = record_feedback(request=req, reviewer=querier, changes={"rating": "negative"}, assessment_id=key)

    assert first.created and not again.created
    assert again.assessment.pk == first.assessment.pk
    assert Assessment.objects.filter(request=req).count() == 1


def test_an_assessment_id_of_another_reviewer_is_refused(req, querier, manager):
    key = uuid.uuid4()
    record_feedback(request=req, reviewer=querier, changes={"rating": "negative"}, assessment_id=key)
    with pytest.raises(ValidationError) as info:
        record_feedback(request=req, reviewer=manager, changes={"rating": "negative"}, assessment_id=key)
    assert "assessment_id" in info.value.message_dict


def test_a_change_that_changes_nothing_writes_nothing(req, querier):
    first = record_feedback(request=req, reviewer=querier, changes={"comment": "fine"})
    same = record_feedback(request=req, reviewer=querier, changes={"comment": "fine"})
    assert not same.created and same.assessment.pk == first.assessment.pk
    assert Assessment.objects.count() == 1


def test_it_records_the_app_version_the_instructions_version_and_the_reviewer_email(app, req, querier):
    ReviewInstructions.objects.create(app=app, version=1, markdown="Be strict.")
    ReviewInstructions.objects.create(app=app, version=2, markdown="Be stricter.")
    req.app_version = "7"
    req.save(update_fields=["app_version"])

    row = record_feedback(request=req, reviewer=querier, changes={"rating": "positive"}).assessment

    assert (row.app_version, row.instructions_version, row.source_id) == ("7", 2, "querier@example.com")
    assert row.app_id == app.pk


def test_chunk_ratings_merge_by_position_take_the_doc_uri_from_the_chunk_and_null_removes(req, querier):
    record_feedback(
        request=req,
        reviewer=querier,
        changes={"retrieval_assessments": [{"position": 1, "rating": "not_relevant", "comment": "old"}]},
    )
    row = record_feedback(
        request=req,
        reviewer=querier,
        changes={"retrieval_assessments": [{"position": 0, "rating": "relevant"}]},
    ).assessment
    assert row.retrieval_assessments == [
        {"position": 0, "doc_uri": "docs://tokens#rotate", "rating": "relevant", "comment": ""},
        {"position": 1, "doc_uri": "docs://tokens#revoke", "rating": "not_relevant", "comment": "old"},
    ]
    row = record_feedback(
        request=req, reviewer=querier, changes={"retrieval_assessments": [{"position": 1, "rating": None}]}
    ).assessment
    assert [item["position"] for item in row.retrieval_assessments] == [0]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({}, "detail"),
        ({"rating": "meh"}, "rating"),
        ({"reasons": ["too french"]}, "reasons"),
        ({"reasons": "inaccurate"}, "reasons"),
        ({"reasons": ["other"]}, "other_reason"),
        ({"comment": "x" * (100 * 1024 + 1)}, "comment"),
        ({"comment": 5}, "comment"),
        ({"corrected_response": "é" * (60 * 1024)}, "corrected_response"),
        ({"retrieval_assessments": [{"position": 7, "rating": "relevant"}]}, "retrieval_assessments"),
        ({"retrieval_assessments": [{"position": "0", "rating": "relevant"}]}, "retrieval_assessments"),
        ({"retrieval_assessments": [{"position": 0, "rating": "great"}]}, "retrieval_assessments"),
        ({"retrieval_assessments": [{"position": 0, "rating": "relevant"}] * 2}, "retrieval_assessments"),
        ({"missing_sources": [{}]}, "missing_sources"),
        ({"missing_sources": [{"doc_uri": " ", "content": ""}]}, "missing_sources"),
        ({"missing_sources": [{"url": "x"}]}, "missing_sources"),
        ({"stars": 5}, "stars"),
    ],
)
def test_bad_changes_are_refused_naming_the_field_and_nothing_is_stored(req, querier, changes, field):
    with pytest.raises(ValidationError) as info:
        record_feedback(request=req, reviewer=querier, changes=changes)
    assert field in info.value.message_dict
    assert Assessment.objects.count() == 0


def test_other_with_its_text_is_accepted(req, querier):
    row = record_feedback(
        request=req,
        reviewer=querier,
        changes={"reasons": ["other", "incomplete"], "other_reason": "Too long"},
    ).assessment
    assert (row.reasons, row.other_reason) == (["other", "incomplete"], "Too long")


def test_an_empty_correction_clears_it(req, querier):
    record_feedback(request=req, reviewer=querier, changes={"corrected_response": "Use Settings > Tokens."})
    row = record_feedback(request=req, reviewer=querier, changes={"corrected_response": ""}).assessment
    assert row.corrected_response is None


def test_a_write_back_is_queued_only_for_requests_with_an_mlflow_trace(app, querier):
    traced = factories.make_request(app, user=querier, mlflow_trace_id="tr-123")
    untraced = factories.make_request(app, user=querier)
    record_feedback(request=traced, reviewer=querier, changes={"rating": "positive"})
    record_feedback(request=untraced, reviewer=querier, changes={"rating": "positive"})
    assert list(MlflowSync.objects.values_list("assessment__request", "status")) == [(traced.pk, "pending")]


def test_a_retry_of_an_older_call_returns_its_row_and_stores_nothing(req, querier):
    key = uuid.uuid4()
    old = record_feedback(request=req, reviewer=querier, changes={"rating": "negative"}, assessment_id=key)
    record_feedback(request=req, reviewer=querier, changes={"comment": "later thought"})
    retry = record_feedback(request=req, reviewer=querier, changes={"rating": "negative"}, assessment_id=key)

    assert not retry.created and retry.assessment.pk == old.assessment.pk
    assert Assessment.objects.count() == 2


def test_first_feedback_holding_only_defaults_stores_nothing(req, querier):
    recorded = record_feedback(request=req, reviewer=querier, changes={"comment": "", "reasons": []})
    assert recorded.assessment is None and not recorded.created
    assert not Assessment.objects.exists()
