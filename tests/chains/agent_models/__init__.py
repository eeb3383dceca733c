"""Chains of other people's shape, as MLflow models-from-code files: each file here is logged and
registered in the test run's MLflow store by `register`, then called by URI like any app's chain."""

import threading
from pathlib import Path

from reviewapp.chains.mlflow_setup import configure, experiment_id

HERE = Path(__file__).resolve().parent


def register(name: str, code_file: str) -> str:
    """Log `code_file` (a file in this folder) as a pyfunc and register it as `name`; its URI."""
    mlflow = configure()
    with mlflow.start_run(experiment_id=experiment_id("agent-models")):
        info = mlflow.pyfunc.log_model(
            name="model", python_model=str(HERE / code_file), pip_requirements=["mlflow"]
        )
    version = mlflow.register_model(info.model_uri, name).version
    return f"models:/{name}/{version}"


def finished_trace(trace_id: str, seconds: float = 30):
    """The stored trace of a call, once the model's thread (`chain <trace id>`) has ended.

    A model still busy when its call timed out or was abandoned keeps running and then writes its
    spans: a test that made one waits for it, so nothing writes to the store after the test.
    """
    assert trace_id, "the call kept no trace id"
    for thread in threading.enumerate():
        if thread.name == f"chain {trace_id}":
            thread.join(seconds)
            assert not thread.is_alive(), f"the model's thread still runs after {seconds} s"
    return configure().get_trace(trace_id, flush=True)
