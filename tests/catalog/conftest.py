"""Real models in the run's MLflow store, for apps whose chain is an MLflow model."""

import pytest


@pytest.fixture(scope="session")
def demo_version(demo_model_uri) -> str:
    """The registry version `demo_model_uri` (an alias) points at."""
    from reviewapp.chains.mlflow_setup import configure

    name, alias = demo_model_uri.removeprefix("models:/").split("@")
    return str(configure().MlflowClient().get_model_version_by_alias(name, alias).version)


@pytest.fixture(scope="session")
def demo_run_uri(demo_model_uri, demo_version) -> str:
    """The demo chain by the run that logged it: runs:/<run_id>/demo_chain."""
    from reviewapp.chains.mlflow_setup import configure

    name = demo_model_uri.removeprefix("models:/").split("@")[0]
    run_id = configure().MlflowClient().get_model_version(name, demo_version).run_id
    return f"runs:/{run_id}/demo_chain"
