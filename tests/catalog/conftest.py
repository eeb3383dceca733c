"""Real models in the run's MLflow store, for apps whose chain is an MLflow model."""

import socket

import pytest


# Asked each time: a test elsewhere in the worker (tests/foundation) moves the demo's alias.
@pytest.fixture
def demo_version(demo_model_uri) -> str:
    """The registry version `demo_model_uri` (an alias) points at now."""
    from reviewapp.chains.mlflow_setup import configure

    name, alias = demo_model_uri.removeprefix("models:/").split("@")
    return str(configure().MlflowClient().get_model_version_by_alias(name, alias).version)


@pytest.fixture
def demo_run_uri(demo_model_uri, demo_version) -> str:
    """The demo chain by the run that logged it: runs:/<run_id>/demo_chain."""
    from reviewapp.chains.mlflow_setup import configure

    name = demo_model_uri.removeprefix("models:/").split("@")[0]
    run_id = configure().MlflowClient().get_model_version(name, demo_version).run_id
    return f"runs:/{run_id}/demo_chain"


@pytest.fixture
def unreachable_store(settings, monkeypatch):
    """The tracking store set to a loopback port nothing listens on, MLflow's retries left as they are."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once closed
    for name in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    settings.MLFLOW_TRACKING_URI = f"http://127.0.0.1:{port}"
    return settings.MLFLOW_TRACKING_URI


@pytest.fixture
def registry_app(app, demo_model_uri, demo_version):
    """`app` on the demo model by its alias, labelled with the version the alias points at."""
    from reviewapp.catalog.models import App

    App.objects.filter(pk=app.pk).update(
        adapter=App.Adapter.MLFLOW, adapter_config={"model_uri": demo_model_uri}, version=demo_version
    )
    app.refresh_from_db()
    return app
