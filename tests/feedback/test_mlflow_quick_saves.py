"""Quick saves reach MLflow as changes: only what changed gets a new entry on the trace, and rows
a newer one superseded before they were written are skipped, through a real worker and store."""

import time
from collections import Counter

import pytest
from django.db import transaction

from reviewapp.chains import mlflow_model
from reviewapp.chains.mlflow_setup import configure
from reviewapp.feedback.models import MlflowSync
from reviewapp.requestlog.services import log_turn
from tests.feedback.helpers import feedback

pytestmark = [pytest.mark.worker, pytest.mark.timeout(300)]

FIRST = {
    "rating": "negative",
    "comment": "Skips the mobile app.",
    "corrected_response": "Draft 0",
    "retrieval_assessments": [
        {"position": 0, "rating": "relevant"},
        {"position": 1, "rating": "not_relevant"},
    ],
}
# rating, comment (its rationale), expected_response, expected_retrieved_context, two chunk ratings
ITEMS = {"rating": 1, "expected_response": 1, "expected_retrieved_context": 1, "chunk_relevance": 2}


@pytest.fixture
def traced_request(app, querier, demo_model_uri):
    messages = [{"role": "user", "content": "How do I resolve a sync conflict between two devices?"}]
    result = mlflow_model.invoke(model_uri=demo_model_uri, messages=messages, timeout_seconds=60)
    assert result.mlflow_trace_id and len(result.chunks) >= 2
    req = log_turn(app=app, user=querier, source="review_app", messages=messages, result=result)
    assert [p["position"] for p in req.passages()][:2] == [0, 1]
    return req


def settled(req, timeout: float = 90) -> dict:
    """{status: count} of the request's write-backs once none is open."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = Counter(
            MlflowSync.objects.filter(assessment__request=req).values_list("status", flat=True)
        )
        if not statuses["pending"] and not statuses["failed"]:
            return dict(statuses)
        time.sleep(0.2)
    raise AssertionError(f"write-backs still open: {statuses}")


def entries(trace_id: str) -> Counter:
    return Counter(a.name for a in configure().get_trace(trace_id).info.assessments)


def valid_entries(trace_id: str) -> Counter:
    return Counter(a.name for a in configure().get_trace(trace_id).info.assessments if a.valid)


def test_nine_quick_saves_of_one_field_add_entries_for_that_field_only(
    celery_worker, traced_request, querier
):
    req = traced_request
    feedback(req, querier, **FIRST)
    assert settled(req) == {"done": 1}
    before = entries(req.mlflow_trace_id)
    assert before == ITEMS

    for n in range(1, 10):
        feedback(req, querier, corrected_response=f"Draft {n}")
    statuses = settled(req)

    after = entries(req.mlflow_trace_id)
    written = statuses["done"] - 1  # of the nine; the others were superseded unwritten
    assert written + statuses.get("skipped", 0) == 9 and written >= 1
    assert after == {**ITEMS, "expected_response": 1 + written}
    assert valid_entries(req.mlflow_trace_id) == ITEMS
    [current] = [
        a
        for a in configure().get_trace(req.mlflow_trace_id).info.assessments
        if a.name == "expected_response" and a.valid
    ]
    assert current.value == "Draft 9"
    print(f"assessments on the trace: {sum(before.values())} before, {sum(after.values())} after nine saves")


def test_rows_still_open_when_the_worker_comes_are_superseded_by_the_newest(
    celery_worker, traced_request, querier
):
    req = traced_request
    # One transaction: the nine rows exist before the first of their tasks is queued.
    with transaction.atomic():
        rows = [feedback(req, querier, **FIRST)]
        rows += [feedback(req, querier, corrected_response=f"Draft {n}") for n in range(1, 9)]

    assert settled(req) == {"done": 1, "skipped": 8}
    newest = rows[-1]
    assert MlflowSync.objects.get(assessment=newest).status == "done"
    for row in rows[:-1]:
        sync = MlflowSync.objects.get(assessment=row)
        assert sync.mlflow_ids == {}
        assert sync.last_error == (
            f"Superseded by assessment {newest.assessment_id} before it was written to MLflow."
        )
    assert entries(req.mlflow_trace_id) == ITEMS
    [expected] = [
        a
        for a in configure().get_trace(req.mlflow_trace_id).info.assessments
        if a.name == "expected_response"
    ]
    assert expected.value == "Draft 8" and expected.metadata["assessment_id"] == str(newest.assessment_id)
