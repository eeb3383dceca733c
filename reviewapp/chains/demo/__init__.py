"""The demo chain: BM25 over a bundled document set, logged to MLflow and registered.

`model.py` is the models-from-code file MLflow logs (it imports mlflow, so only MLflow loads
it); `docs.md` is the document set, logged as the model's `docs` artifact. This module stays
light: mlflow is imported inside `ensure_registered`.
"""

import fcntl
import hashlib
import logging
from pathlib import Path

from django.conf import settings

HERE = Path(__file__).resolve().parent
MODEL_CODE = HERE / "model.py"
DOCS = HERE / "docs.md"
ALIAS = "champion"
EXPERIMENT = "reviewapp-demo"
# What the logged model needs besides Python; pinned to what this project runs.
PIP_REQUIREMENTS = ["mlflow==3.17.2", "rank-bm25==0.2.2"]

HASH_TAG = "reviewapp.demo_hash"

log = logging.getLogger(__name__)


def content_hash() -> str:
    """What identifies this demo chain: its code and its documents."""
    digest = hashlib.sha256()
    for path in (MODEL_CODE, DOCS):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def model_uri() -> str:
    return f"models:/{settings.MLFLOW_DEMO_MODEL_NAME}@{ALIAS}"


def ensure_registered() -> str:
    """Log and register the demo chain unless the registry already has it; return its URI.

    Idempotent, and safe when several processes start at once (a file lock serialises them).
    When the chain's code or documents changed since, a new version is logged and the alias
    moves to it, so an upgraded checkout serves the upgraded chain.
    """
    from reviewapp.chains.mlflow_setup import configure, experiment_id

    mlflow = configure()
    client = mlflow.MlflowClient()
    name = settings.MLFLOW_DEMO_MODEL_NAME
    lock_path = Path(settings.VAR_DIR) / "demo-model.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = _alias_version(client, name)
        if current is not None and current.tags.get(HASH_TAG) == content_hash():
            return model_uri()
        same = [v for v in _versions(client, name) if v.tags.get(HASH_TAG) == content_hash()]
        if same:
            # Logged by a run that stopped before setting the alias: finish its work.
            version = max(same, key=lambda v: int(v.version)).version
        else:
            version = _log_and_register(mlflow, experiment_id(EXPERIMENT), name)
        client.set_registered_model_alias(name, ALIAS, version)
        log.info("registered the demo chain as %s version %s", name, version)
    return model_uri()


def _alias_version(client, name: str):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, ALIAS)
    except MlflowException:
        return None


def _versions(client, name: str) -> list:
    return list(client.search_model_versions(f"name = '{name}'"))


def _log_and_register(mlflow, experiment: str, name: str) -> str:
    with mlflow.start_run(experiment_id=experiment, run_name="demo-chain"):
        info = mlflow.pyfunc.log_model(
            name="demo_chain",
            python_model=str(MODEL_CODE),
            artifacts={"docs": str(DOCS)},
            pip_requirements=PIP_REQUIREMENTS,
        )
    registered = mlflow.register_model(info.model_uri, name, tags={HASH_TAG: content_hash()})
    return str(registered.version)
