"""An adjudication reaches the request's MLflow trace, through a real Celery worker and a real store,
as the final expectations superseding the reviewers' ones, which stay in the history."""

import time

import pytest

from reviewapp.adjudication import disputes, services
from reviewapp.adjudication.models import Adjudication
from reviewapp.adjudication.tasks import write_to_mlflow
from reviewapp.catalog.models import Level
from reviewapp.chains import mlflow_model
from reviewapp.chains.mlflow_setup import configure
from reviewapp.feedback.models import MlflowSync
from reviewapp.feedback.tasks import sync_to_mlflow
from reviewapp.jobs.sending import send
from reviewapp.queues import services as queue_services
from reviewapp.requestlog.services import log_turn
from tests import factories
from tests.adjudication.helpers import submit

pytestmark = [pytest.mark.worker, pytest.mark.timeout(300)]
FINAL = "Open the conflicted copy, compare both versions and keep the one you want."


@pytest.fixture
def traced_request(app, querier, demo_model_uri):
    messages = [{"role": "user", "content": "How do I resolve a sync conflict between two devices?"}]
    result = mlflow_model.invoke(model_uri=demo_model_uri, messages=messages, timeout_seconds=60)
    assert result.mlflow_trace_id and len(result.chunks) >= 2
    return log_turn(app=app, user=querier, source="review_app", messages=messages, result=result)


def resend_pending() -> None:
    """What the periodic sweeps do: send again a write-back whose message was not sent (a send
    gets one short try, and a loaded test machine sometimes misses it); a duplicate does nothing."""
    for pk in MlflowSync.objects.filter(status="pending").values_list("pk", flat=True):
        send(sync_to_mlflow, (pk,))
    for pk in Adjudication.objects.filter(mlflow_status="pending").values_list("pk", flat=True):
        send(write_to_mlflow, (pk,))


def wait(check, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    resend_at = time.monotonic() + 10
    while time.monotonic() < deadline:
        if check():
            return
        if time.monotonic() > resend_at:
            resend_pending()
            resend_at = time.monotonic() + 10
        time.sleep(0.2)
    syncs = list(MlflowSync.objects.values_list("pk", "status", "last_error"))
    adjudications = list(Adjudication.objects.values_list("mlflow_status", "mlflow_error", "revision"))
    raise AssertionError(f"timed out waiting for {what}: {syncs} {adjudications}")


def expectations(trace_id: str, name: str, valid=True):
    items = configure().get_trace(trace_id).info.assessments
    return [
        a
        for a in items
        if a.name == name and a.expectation is not None and (valid is None or a.valid == valid)
    ]


def test_the_final_label_supersedes_the_reviewers_expectations_and_a_change_supersedes_it(
    celery_worker, app, manager, traced_request
):
    req = traced_request
    ann, bob = (factories.make_user(f"{n}@example.com") for n in ("ann", "bob"))
    for user in (ann, bob):
        factories.grant(app, user, Level.CAN_QUERY)
    queue, _ = queue_services.create_queue(
        app=app, name="Traced", created_by=manager, overlap=2, request_ids=[req.request_id]
    )
    submit(queue, req, ann, rating="positive", retrieval_assessments=[{"position": 0, "rating": "relevant"}])
    submit(
        queue,
        req,
        bob,
        rating="negative",
        corrected_response="Delete one of the copies.",
        retrieval_assessments=[
            {"position": 0, "rating": "not_relevant"},
            {"position": 1, "rating": "relevant"},
        ],
    )
    wait(
        lambda: set(MlflowSync.objects.values_list("status", flat=True)) == {"done"},
        "the reviewers' write-back",
    )
    [bob_expected] = expectations(req.mlflow_trace_id, "expected_response")
    reviewers_context = {
        a.assessment_id for a in expectations(req.mlflow_trace_id, "expected_retrieved_context")
    }
    assert len(reviewers_context) == 2  # one per reviewer

    case = disputes.case_for(queue, req.request_id)
    assert case.kinds == ["thumbs", "passages", "correction"]
    adjudication = services.adjudicate(
        queue=queue,
        case=case,
        adjudicator=manager,
        rating="negative",
        corrected_response=FINAL,
        relevant={"0": "relevant", "1": "not_relevant"},
        note="Both copies matter.",
    )
    wait(lambda: Adjudication.objects.get().mlflow_status == "done", "the adjudication's write-back")

    passages = req.passages()
    [final] = expectations(req.mlflow_trace_id, "expected_response")
    assert (final.value, final.source.source_type, final.source.source_id) == (FINAL, "HUMAN", manager.email)
    assert final.overrides == bob_expected.assessment_id
    assert (final.metadata["final"], final.metadata["note"], final.metadata["adjudication"]) == (
        "true",
        "Both copies matter.",
        str(adjudication.pk),
    )
    [context] = expectations(req.mlflow_trace_id, "expected_retrieved_context")
    assert context.value == [{"doc_uri": passages[0]["doc_uri"], "content": passages[0]["content"]}]
    assert context.source.source_id == manager.email
    # The reviewers' items stay in the history, no longer valid.
    assert [a.assessment_id for a in expectations(req.mlflow_trace_id, "expected_response", valid=False)] == [
        bob_expected.assessment_id
    ]
    assert {
        a.assessment_id for a in expectations(req.mlflow_trace_id, "expected_retrieved_context", valid=False)
    } == (reviewers_context)
    # What mlflow.genai.evaluate reads from the trace: the final label alone.
    from mlflow.genai.utils.trace_utils import extract_expectations_from_trace

    assert extract_expectations_from_trace(configure().get_trace(req.mlflow_trace_id)) == {
        "expected_response": FINAL,
        "expected_retrieved_context": context.value,
    }

    # A change of mind: the new final item overrides the previous one; an unchanged one stays.
    case = disputes.case_for(queue, req.request_id)
    services.adjudicate(
        queue=queue,
        case=case,
        adjudicator=manager,
        rating="negative",
        corrected_response="Keep the newer copy.",
        relevant={"0": "relevant", "1": "not_relevant"},
    )
    wait(
        lambda: (
            Adjudication.objects.get().mlflow_status == "done" and Adjudication.objects.get().revision == 2
        ),
        "the change's write-back",
    )
    [changed] = expectations(req.mlflow_trace_id, "expected_response")
    assert (changed.value, changed.overrides) == ("Keep the newer copy.", final.assessment_id)
    assert [a.assessment_id for a in expectations(req.mlflow_trace_id, "expected_retrieved_context")] == [
        context.assessment_id
    ]


def test_a_request_without_a_trace_is_not_sent_to_mlflow(app, manager):
    from tests.adjudication.helpers import disputed_queue

    d = disputed_queue(app)
    adjudication = services.adjudicate(
        queue=d.queue, case=disputes.case_for(d.queue, d.thumbs.request_id), adjudicator=manager, pick=1
    )
    assert adjudication.mlflow_status == ""


def test_a_tracking_store_outage_leaves_it_failed_and_the_sweep_writes_it_later(
    celery_worker, app, manager, traced_request
):
    from datetime import timedelta

    from django.test import override_settings
    from django.utils import timezone

    from reviewapp.adjudication.tasks import sweep_mlflow

    req = traced_request
    ann, bob = (factories.make_user(f"{n}@example.com") for n in ("ann", "bob"))
    for user in (ann, bob):
        factories.grant(app, user, Level.CAN_QUERY)
    queue, _ = queue_services.create_queue(
        app=app, name="Outage", created_by=manager, overlap=2, request_ids=[req.request_id]
    )
    with override_settings(MLFLOW_TRACKING_URI="sqlite:////dev/null/unreachable/mlflow.db"):
        submit(queue, req, ann, rating="positive")
        submit(queue, req, bob, rating="negative", corrected_response="Delete one of the copies.")
        started = time.monotonic()
        services.adjudicate(
            queue=queue, case=disputes.case_for(queue, req.request_id), adjudicator=manager, pick=2
        )
        assert time.monotonic() - started < 1.0  # the adjudicator never waits for MLflow
        wait(lambda: Adjudication.objects.get().mlflow_status == "failed", "the write-back to fail")
        assert Adjudication.objects.get().mlflow_error
    configure()  # back to the run's store
    # The sweep takes rows untouched for a minute.
    Adjudication.objects.update(updated_at=timezone.now() - timedelta(minutes=2))

    sweep_mlflow()
    wait(lambda: Adjudication.objects.get().mlflow_status == "done", "the sweep's write-back")

    [final] = expectations(req.mlflow_trace_id, "expected_response")
    assert (final.value, final.source.source_id) == ("Delete one of the copies.", manager.email)
