"""The MLflow-model adapter with a model that is not the demo: untraced, slow or failing."""

import time

import pytest

from reviewapp.chains import mlflow_model, tracing
from reviewapp.chains.base import ChainError
from reviewapp.chains.mlflow_setup import configure, experiment_id


class CompletionModel:
    """Answers with an OpenAI chat completion; 'sleep' makes it slow, 'fail' makes it raise."""

    def predict(self, context, model_input, params=None):
        question = model_input["messages"][-1]["content"]
        if question == "sleep":
            time.sleep(3)
        if question == "fail":
            raise RuntimeError("the index is not built")
        return {
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
    assert tracing.attribute(root, tracing.SPAN_OUTPUTS) == "You asked: hello"
    assert result.request_tokens is None


def test_a_model_slower_than_the_timeout_is_a_chain_error(completion_model_uri):
    started = time.monotonic()
    with pytest.raises(ChainError, match="did not answer within 1 seconds"):
        mlflow_model.invoke(
            model_uri=completion_model_uri,
            messages=[{"role": "user", "content": "sleep"}],
            timeout_seconds=1,
        )
    assert time.monotonic() - started < 2.5


def test_a_model_that_raises_is_a_chain_error_saying_why(completion_model_uri):
    with pytest.raises(ChainError, match="The chain failed: the index is not built"):
        mlflow_model.invoke(model_uri=completion_model_uri, messages=[{"role": "user", "content": "fail"}])


def test_a_run_uri_is_loaded_once_per_process(completion_model_uri):
    first = mlflow_model.load(completion_model_uri)[1]
    second = mlflow_model.load(completion_model_uri)[1]

    assert first is second
