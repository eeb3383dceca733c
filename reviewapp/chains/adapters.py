"""`get_adapter(app)`: the object that runs an app's chain (DESIGN.md, "The chain contract").

Every adapter has `invoke(messages, *, timeout) -> ChainResult` and `stream(messages, *, timeout)`,
which yields text deltas and then the final ChainResult. Adapters that cannot stream yield the
whole answer as one delta. Failures and timeouts raise ChainError (ChainTimeout for timeouts).
"""

import functools
from collections.abc import Iterator
from typing import Protocol

from reviewapp.catalog.models import App

from .base import ChainError, ChainResult, ChainTimeout
from .http_endpoint import HttpEndpointAdapter

__all__ = ["Adapter", "ChainError", "ChainResult", "ChainTimeout", "get_adapter"]


class Adapter(Protocol):
    def invoke(self, messages: list[dict], *, timeout: float) -> ChainResult: ...

    def stream(self, messages: list[dict], *, timeout: float) -> Iterator[str | ChainResult]: ...


class MlflowModelAdapter:
    """A pyfunc chain from `models:/name/version`, `models:/name@alias` or `runs:/id/path`.

    Its traces go to the app's own experiment, tagged with the app's slug and id (mlflow_model.APP_TAG,
    APP_ID_TAG).
    """

    def __init__(self, model_uri: str, app: App | None = None, conversation_id: str = ""):
        if not model_uri:
            raise ChainError("The app has no MLflow model URI set")
        self.model_uri = model_uri
        self.app = app
        self.conversation_id = conversation_id

    def uri(self) -> str:
        return self.model_uri

    def _call(self, messages: list[dict], timeout: float) -> dict:
        call = {"model_uri": self.uri(), "messages": messages, "timeout_seconds": timeout}
        if self.app is not None:
            call.update(
                experiment=self.app.mlflow_experiment_name(), app_slug=self.app.slug, app_id=str(self.app.pk)
            )
        if self.conversation_id:
            call["conversation_id"] = self.conversation_id
        return call

    def invoke(self, messages: list[dict], *, timeout: float) -> ChainResult:
        from . import mlflow_model

        return mlflow_model.invoke(**self._call(messages, timeout))

    def stream(self, messages: list[dict], *, timeout: float) -> Iterator[str | ChainResult]:
        from . import mlflow_model

        return mlflow_model.stream(**self._call(messages, timeout))


@functools.cache
def demo_model_uri() -> str:
    """The bundled demo chain's registry URI, registering it on first use in this process."""
    from .demo import ensure_registered

    return ensure_registered()


class DemoAdapter(MlflowModelAdapter):
    """The bundled demo chain, through the MLflow registry like any other MLflow model."""

    def __init__(self, app: App | None = None, conversation_id: str = ""):
        self.model_uri = ""
        self.app = app
        self.conversation_id = conversation_id

    def uri(self) -> str:
        return demo_model_uri()


def get_adapter(app: App, conversation_id: str = "") -> Adapter:
    """The app's adapter; MLflow traces of the call are grouped by `conversation_id` (a session)."""
    config = app.adapter_config or {}
    if app.adapter == App.Adapter.HTTP:
        return HttpEndpointAdapter(config)
    if app.adapter == App.Adapter.MLFLOW:
        return MlflowModelAdapter((config.get("model_uri") or "").strip(), app, conversation_id)
    if app.adapter == App.Adapter.DEMO:
        return DemoAdapter(app, conversation_id)
    raise ChainError(f"Unknown adapter {app.adapter!r}")
