"""`get_adapter(app)`: the object that runs an app's chain (DESIGN.md, "The chain contract").

Every adapter has `invoke(messages, *, timeout) -> ChainResult` and `stream(messages, *, timeout)`,
which yields text deltas and then the final ChainResult. Adapters that cannot stream yield the
whole answer as one delta. Failures and timeouts raise ChainError (ChainTimeout for timeouts).
"""

import contextvars
import functools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Protocol

from reviewapp.catalog.models import App

from .base import ChainError, ChainResult, ChainTimeout
from .http_endpoint import HttpEndpointAdapter

__all__ = ["Adapter", "ChainError", "ChainResult", "ChainTimeout", "get_adapter"]


class Adapter(Protocol):
    def invoke(self, messages: list[dict], *, timeout: float) -> ChainResult: ...

    def stream(self, messages: list[dict], *, timeout: float) -> Iterator[str | ChainResult]: ...


def _with_deadline(fn, timeout: float) -> ChainResult:
    """Run an in-process chain on its own thread, so a slow one can be abandoned at its timeout."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chain")
    future = pool.submit(contextvars.copy_context().run, fn)
    pool.shutdown(wait=False)
    try:
        return future.result(timeout=timeout)
    except FutureTimeout:
        raise ChainTimeout(f"The chain did not answer within {timeout:g} s") from None
    except ChainError:
        raise
    except Exception as exc:  # the chain's own code failed: say how, without a stack trace
        raise ChainError(f"The chain failed: {type(exc).__name__}: {exc}") from None


class MlflowModelAdapter:
    """A pyfunc chain from `models:/name/version`, `models:/name@alias` or `runs:/id/path`."""

    def __init__(self, model_uri: str):
        if not model_uri:
            raise ChainError("The app has no MLflow model URI set")
        self.model_uri = model_uri

    def uri(self) -> str:
        return self.model_uri

    def invoke(self, messages: list[dict], *, timeout: float) -> ChainResult:
        from . import mlflow_model

        return _with_deadline(lambda: mlflow_model.invoke(model_uri=self.uri(), messages=messages), timeout)

    def stream(self, messages: list[dict], *, timeout: float) -> Iterator[str | ChainResult]:
        # A pyfunc's predict answers at once; the whole answer is one delta.
        result = self.invoke(messages, timeout=timeout)
        yield result.response
        yield result


@functools.cache
def demo_model_uri() -> str:
    """The bundled demo chain's registry URI, registering it on first use in this process."""
    from .demo import ensure_registered

    return ensure_registered()


class DemoAdapter(MlflowModelAdapter):
    """The bundled demo chain, through the MLflow registry like any other MLflow model."""

    def __init__(self):
        self.model_uri = ""

    def uri(self) -> str:
        return demo_model_uri()


def get_adapter(app: App) -> Adapter:
    config = app.adapter_config or {}
    if app.adapter == App.Adapter.HTTP:
        return HttpEndpointAdapter(config)
    if app.adapter == App.Adapter.MLFLOW:
        return MlflowModelAdapter((config.get("model_uri") or "").strip())
    if app.adapter == App.Adapter.DEMO:
        return DemoAdapter()
    raise ChainError(f"Unknown adapter {app.adapter!r}")
