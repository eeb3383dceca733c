"""The MLflow-model adapter with a model that is not the demo: untraced, slow or failing."""

import time

import pytest

from reviewapp.catalog.models import App
from reviewapp.chains import mlflow_model, tracing
from reviewapp.chains.base import ChainError
from reviewapp.chains.mlflow_setup import configure, experiment_id
from reviewapp.requestlog.models import Request
from reviewapp.requestlog.services import run_turn
from tests.chains.agent_models import finished_trace


class CompletionModel:
    """Answers with an OpenAI chat completion; 'sleep' makes it slow, 'fail' makes it raise."""

    def predict(self, context, model_input, params=None):
        question = model_input["messages"][-1]["content"]
        if question == "sleep":
            time.sleep(3)
        if question == "fail":
            raise RuntimeError("the index is not built")
        usage = (
            {"usage": {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16}}
            if question == "usage"
            else {}
        )
        return {
            **usage,
            "object": "chat.completion",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": f"You asked: {question}"}},
                {"index": 1, "message": {"role": "assistant", "content": "an alternative"}},
            ],
        }


@pytest.fixture(scope="module")
def completion_model_uri():
    import mlflow.pyfunc

    class Model(CompletionModel, mlflow.pyfunc.PythonModel):
        pass

    mlflow = configure()
    with mlflow.start_run(experiment_id=experiment_id("adapter-tests")) as run:
        mlflow.pyfunc.log_model(name="model", python_model=Model(), pip_requirements=["mlflow"])
    return f"runs:/{run.info.run_id}/model"


def test_an_untraced_model_still_gets_a_trace_of_the_call(completion_model_uri):
    result = mlflow_model.invoke(
        model_uri=completion_model_uri, messages=[{"role": "user", "content": "hello"}]
    )

    assert result.response == "You asked: hello"
    assert result.chunks == []
    root = tracing.root_span(result.trace)
    assert tracing.attribute(root, tracing.SPAN_INPUTS) == {
        "messages": [{"role": "user", "content": "hello"}]
    }
    # The model's whole output is kept in the trace, not just the text taken from it.
    assert (
        tracing.attribute(root, tracing.SPAN_OUTPUTS)["choices"][1]["message"]["content"] == "an alternative"
    )
    assert result.request_tokens is None


def test_a_model_slower_than_the_timeout_is_a_chain_error_that_keeps_its_trace_id(completion_model_uri):
    started = time.monotonic()
    with pytest.raises(ChainError, match="did not answer within 1 seconds") as timed_out:
        mlflow_model.invoke(
            model_uri=completion_model_uri,
            messages=[{"role": "user", "content": "sleep"}],
            timeout_seconds=1,
        )
    assert time.monotonic() - started < 2.5
    assert finished_trace(timed_out.value.mlflow_trace_id).info.state.value == "ERROR"


def test_a_model_that_raises_is_a_chain_error_saying_why_in_its_trace_too(completion_model_uri):
    with pytest.raises(ChainError, match="The chain failed: the index is not built") as failed:
        mlflow_model.invoke(model_uri=completion_model_uri, messages=[{"role": "user", "content": "fail"}])

    stored = configure().get_trace(failed.value.mlflow_trace_id)
    [chain] = [s for s in stored.data.spans if s.parent_id is None]
    assert chain.status.status_code == "ERROR" and "the index is not built" in chain.status.description


def test_a_tracking_store_that_cannot_be_reached_is_a_chain_error(completion_model_uri, settings, tmp_path):
    mlflow_model.load(completion_model_uri)  # cached: only the call itself needs the store
    (tmp_path / "a-file").write_text("")  # a store MLflow cannot open: its folder is a file
    settings.MLFLOW_TRACKING_URI = f"sqlite:///{tmp_path}/a-file/mlflow.db"

    with pytest.raises(ChainError, match="could not be started"):
        mlflow_model.invoke(
            model_uri=completion_model_uri,
            messages=[{"role": "user", "content": "hello"}],
            experiment="reviewapp/not-yet-made",
        )


def test_the_usage_of_a_returned_chat_completion_is_used(completion_model_uri):
    result = mlflow_model.invoke(
        model_uri=completion_model_uri, messages=[{"role": "user", "content": "usage"}]
    )

    assert (result.request_tokens, result.response_tokens, result.total_tokens) == (12, 4, 16)
    assert result.app_version == ""  # a run's model has no registry version


def test_a_failed_turn_is_logged_with_its_error_trace(app, querier, completion_model_uri):
    app.adapter = App.Adapter.MLFLOW
    app.adapter_config = {"model_uri": completion_model_uri}

    turn = run_turn(
        app=app, user=querier, source="review_app", messages=[{"role": "user", "content": "fail"}]
    )

    row = Request.objects.get(pk=turn.request.pk)
    assert row.status == Request.Status.ERROR and "the index is not built" in row.error
    assert row.mlflow_trace_id and row.trace["info"]["trace_id"] == row.mlflow_trace_id
    assert configure().get_trace(row.mlflow_trace_id).info.state.value == "ERROR"


def test_a_timed_out_turn_is_logged_with_its_error_trace(app, querier, completion_model_uri):
    app.adapter = App.Adapter.MLFLOW
    app.adapter_config = {"model_uri": completion_model_uri}
    app.timeout_seconds = 1

    turn = run_turn(
        app=app, user=querier, source="review_app", messages=[{"role": "user", "content": "sleep"}]
    )

    row = Request.objects.get(pk=turn.request.pk)
    assert row.status == Request.Status.ERROR and "did not answer within 1 seconds" in row.error
    assert finished_trace(row.mlflow_trace_id).info.state.value == "ERROR"


def test_a_run_uri_is_loaded_once_per_process(completion_model_uri):
    first = mlflow_model.load(completion_model_uri)[1]
    second = mlflow_model.load(completion_model_uri)[1]

    assert first is second
