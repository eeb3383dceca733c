"""Judge results go back to their requests' MLflow traces as feedback of source CODE or LLM_JUDGE,
named after the judge, through a real worker and a real tracking store; a store that is down
leaves them failed, and the sweep writes them once it is back."""

import pytest
from django.test import override_settings

from reviewapp.chains import mlflow_model
from reviewapp.chains.mlflow_setup import configure
from reviewapp.exports.selection import Filters
from reviewapp.jobs.models import Job
from reviewapp.jobs.services import run_job
from reviewapp.judges import mlflow_write, services
from reviewapp.judges.models import JudgeResult
from reviewapp.judges.runs import run
from reviewapp.requestlog.services import log_turn
from tests import factories
from tests.exports.helpers import wait_until
from tests.judges import judge_model

pytestmark = pytest.mark.timeout(300)
UNREACHABLE = "sqlite:////dev/null/unreachable/mlflow.db"


@pytest.fixture
def traced_request(app, manager, demo_model_uri):
    messages = [{"role": "user", "content": "How do I resolve a sync conflict between two devices?"}]
    result = mlflow_model.invoke(model_uri=demo_model_uri, messages=messages, timeout_seconds=60)
    assert result.mlflow_trace_id
    request = log_turn(app=app, user=manager, source="review_app", messages=messages, result=result)
    factories.make_assessment(request, manager, "positive")
    return request


def feedback_named(trace_id: str, name: str):
    return [a for a in configure().get_trace(trace_id).info.assessments if a.name == name]


@pytest.mark.worker
def test_judge_results_land_on_the_trace_as_code_and_llm_judge_feedback(
    app, manager, traced_request, judge_server, celery_worker
):
    untraced = factories.make_request(app)  # no trace: nothing to write
    factories.make_assessment(untraced, manager, "positive")
    grounded = services.create_judge(app=app, user=manager, name="grounded", kind="groundedness")
    safe = services.create_judge(
        app=app,
        user=manager,
        name="safe",
        kind="llm",
        metric="safety",
        **judge_model.settings_of(judge_server),
    )

    for judge in (grounded, safe):  # the worker runs them
        job = services.start_run(judge=judge, user=manager, filters=Filters())
        wait_until(lambda job=job: Job.objects.get(pk=job.pk).status == "succeeded", timeout=60)

    traced = JudgeResult.objects.filter(request=traced_request)
    wait_until(lambda: set(traced.values_list("mlflow_status", flat=True)) == {"done"}, timeout=60)
    assert set(JudgeResult.objects.filter(request=untraced).values_list("mlflow_status", flat=True)) == {""}
    trace_id = traced_request.mlflow_trace_id
    [code] = feedback_named(trace_id, "grounded")
    [llm] = feedback_named(trace_id, "safe")
    assert code.source.source_type == "CODE" and code.source.source_id == "reviewapp:grounded v1"
    assert llm.source.source_type == "LLM_JUDGE" and llm.source.source_id == judge_model.MODEL
    result = traced.get(version__judge=safe)
    assert llm.value is (result.value == "pass") and llm.rationale == result.rationale
    assert llm.metadata["judge_version"] == "1" and llm.metadata["input_tokens"] == "120"
    assert result.mlflow_assessment_id == llm.assessment_id


def test_a_store_that_is_down_leaves_results_failed_and_the_sweep_writes_them_once(
    app, manager, traced_request
):
    judge = services.create_judge(app=app, user=manager, name="grounded", kind="groundedness")
    run_job(str(services.start_run(judge=judge, user=manager, filters=Filters()).pk), run)
    result = JudgeResult.objects.get()
    assert result.mlflow_status == "pending"

    with override_settings(MLFLOW_TRACKING_URI=UNREACHABLE):
        assert mlflow_write.write_back([result.pk]) == {"failed": 1}
    result.refresh_from_db()
    assert result.mlflow_status == "failed" and result.mlflow_error
    assert mlflow_write.open_results().count() == 0  # tried just now: the sweep waits a minute

    JudgeResult.objects.filter(pk=result.pk).update(mlflow_tried_at=result.mlflow_tried_at.replace(year=2020))
    assert list(mlflow_write.open_results().values_list("pk", flat=True)) == [result.pk]
    assert mlflow_write.write_back([result.pk]) == {"done": 1}
    assert mlflow_write.write_back([result.pk]) == {}  # written once, however often it is sent
    assert len(feedback_named(traced_request.mlflow_trace_id, "grounded")) == 1
