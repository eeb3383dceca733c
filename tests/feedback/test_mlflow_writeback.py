"""Feedback goes back to the request's MLflow trace through a real Celery worker and a real store."""

import json
import time

import pytest
from django.core.management import call_command
from django.test import override_settings

from reviewapp.chains import mlflow_model
from reviewapp.chains.mlflow_setup import configure
from reviewapp.feedback.models import Assessment, MlflowSync
from reviewapp.requestlog.services import log_turn
from tests.feedback.helpers import feedback

pytestmark = [pytest.mark.worker, pytest.mark.timeout(300)]
UNREACHABLE = "sqlite:////dev/null/unreachable/mlflow.db"


@pytest.fixture
def traced_request(app, querier, demo_model_uri):
    messages = [{"role": "user", "content": "How do I resolve a sync conflict between two devices?"}]
    result = mlflow_model.invoke(model_uri=demo_model_uri, messages=messages, timeout_seconds=60)
    assert result.mlflow_trace_id and len(result.chunks) >= 2
    return log_turn(app=app, user=querier, source="review_app", messages=messages, result=result)


def wait_for(sync_status: str, assessment, timeout: float = 60) -> MlflowSync:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sync = MlflowSync.objects.get(assessment=assessment)
        if sync.status == sync_status:
            return sync
        time.sleep(0.2)
    raise AssertionError(f"sync is {sync.status} (attempts {sync.attempts}, error {sync.last_error!r})")


def delivered(request, reviewer, **changes) -> Assessment:
    """Feedback recorded, once the worker has written it to the request's trace."""
    row = feedback(request, reviewer, **changes)
    wait_for("done", row)
    return row


def assessments(trace_id: str) -> list:
    return configure().get_trace(trace_id).info.assessments


def by_name(items, name, valid=True):
    return [a for a in items if a.name == name and (valid is None or a.valid == valid)]


def test_every_kind_of_feedback_lands_on_the_trace_as_human_assessments(
    celery_worker, traced_request, querier
):
    req = traced_request
    row = delivered(
        req,
        querier,
        rating="negative",
        reasons=["incomplete", "other"],
        other_reason="Skips the mobile app",
        comment="Only covers the desktop client.",
        corrected_response="Open the conflicted copy and merge it by hand.",
        retrieval_assessments=[
            {"position": 0, "rating": "relevant", "comment": "the right page"},
            {"position": 1, "rating": "not_relevant"},
        ],
        missing_sources=[{"doc_uri": "docs://tidepool/mobile#sync"}],
    )

    items = assessments(req.mlflow_trace_id)
    assert {a.source.source_type for a in items} == {"HUMAN"}
    assert {a.source.source_id for a in items} == {"querier@example.com"}

    [rating] = by_name(items, "rating")
    assert rating.value is False
    assert rating.rationale == "Only covers the desktop client."
    assert json.loads(rating.metadata["reasons"]) == ["incomplete", "other"]
    assert rating.metadata["assessment_id"] == str(row.assessment_id)

    [expected] = by_name(items, "expected_response")
    assert expected.value == "Open the conflicted copy and merge it by hand."
    [context] = by_name(items, "expected_retrieved_context")
    assert context.value == [
        {"doc_uri": req.chunks[0]["doc_uri"], "content": req.chunks[0]["content"]},
        {"doc_uri": "docs://tidepool/mobile#sync", "content": ""},
    ]

    retriever = [
        s for s in configure().get_trace(req.mlflow_trace_id).data.spans if s.span_type == "RETRIEVER"
    ]
    chunk_items = sorted(by_name(items, "chunk_relevance"), key=lambda a: int(a.metadata["position"]))
    assert [(a.value, a.span_id, a.metadata["doc_uri"]) for a in chunk_items] == [
        (True, retriever[0].span_id, req.chunks[0]["doc_uri"]),
        (False, retriever[0].span_id, req.chunks[1]["doc_uri"]),
    ]
    assert chunk_items[0].rationale == "the right page"


def test_a_changed_mind_overrides_so_mlflow_keeps_the_history(celery_worker, traced_request, querier):
    req = traced_request
    delivered(
        req, querier, rating="negative", retrieval_assessments=[{"position": 0, "rating": "not_relevant"}]
    )
    delivered(req, querier, rating="positive", retrieval_assessments=[{"position": 0, "rating": "relevant"}])

    items = assessments(req.mlflow_trace_id)
    [old] = by_name(items, "rating", valid=False)
    [new] = by_name(items, "rating", valid=True)
    assert (old.value, new.value, new.overrides) == (False, True, old.assessment_id)
    [old_chunk] = by_name(items, "chunk_relevance", valid=False)
    [new_chunk] = by_name(items, "chunk_relevance", valid=True)
    assert new_chunk.overrides == old_chunk.assessment_id and new_chunk.value is True
    assert new_chunk.span_id == old_chunk.span_id


def test_a_tracking_store_outage_loses_nothing_and_a_sweep_delivers_it_later(
    celery_worker, traced_request, querier
):
    req = traced_request
    with override_settings(MLFLOW_TRACKING_URI=UNREACHABLE):
        started = time.monotonic()
        row = feedback(req, querier, rating="negative", comment="late")
        assert time.monotonic() - started < 1.0  # the reviewer never waits for MLflow
        failed = wait_for("failed", row)
        assert failed.attempts >= 1 and failed.last_error
        later = feedback(req, querier, rating="positive")
        time.sleep(1)
        # Waits behind the earlier row: rows of one reviewer reach MLflow in order.
        assert MlflowSync.objects.get(assessment=later).status in ("pending", "failed")
    configure()  # back to the run's store

    call_command("sync_feedback_to_mlflow")

    assert set(MlflowSync.objects.values_list("status", flat=True)) == {"done"}
    items = assessments(req.mlflow_trace_id)
    [old] = by_name(items, "rating", valid=False)
    [new] = by_name(items, "rating", valid=True)
    assert (old.value, old.rationale, new.value, new.overrides) == (False, "late", True, old.assessment_id)


def test_the_periodic_sweep_queues_rows_left_open(celery_worker, traced_request, querier):
    from datetime import timedelta

    from django.utils import timezone

    from reviewapp.feedback.tasks import sweep_mlflow_sync

    with override_settings(MLFLOW_TRACKING_URI=UNREACHABLE):
        row = feedback(traced_request, querier, rating="positive")
        wait_for("failed", row)
    configure()
    # As if the task's own retries were spent long ago.
    MlflowSync.objects.update(updated_at=timezone.now() - timedelta(minutes=5))

    assert sweep_mlflow_sync.delay().get(timeout=30) == 1
    wait_for("done", row)
    [rating] = by_name(assessments(traced_request.mlflow_trace_id), "rating")
    assert rating.value is True
