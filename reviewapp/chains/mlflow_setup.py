"""The one place that points MLflow at the configured tracking store.

mlflow is imported here, lazily: importing it costs seconds, so nothing at Django start-up does.
"""

from pathlib import Path

from django.conf import settings


def configure():
    """Return the `mlflow` module, set to settings.MLFLOW_TRACKING_URI (tracking and registry)."""
    import mlflow

    uri = settings.MLFLOW_TRACKING_URI
    if mlflow.get_tracking_uri() != uri:
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
    return mlflow


def experiment_id(name: str) -> str:
    """The id of experiment `name`, created with its artifacts under MLFLOW_ARTIFACT_ROOT if new."""
    mlflow = configure()
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = None
    root = settings.MLFLOW_ARTIFACT_ROOT
    if "://" not in root:
        path = Path(root) / name.strip("/").replace("/", "_")
        path.mkdir(parents=True, exist_ok=True)
        location = path.as_uri()
    else:
        location = f"{root.rstrip('/')}/{name.strip('/')}"
    try:
        return client.create_experiment(name, artifact_location=location)
    except mlflow.exceptions.MlflowException:
        # Created meanwhile by another process.
        return client.get_experiment_by_name(name).experiment_id
