"""Warm web workers: load each live MLflow-model app's current model when a worker starts.

Loading a pyfunc chain takes seconds; without this, the first question each worker gets waits for
it. The loading runs on a daemon thread, one model after another, while the worker already serves;
a model that cannot be loaded is logged and skipped (its first call will say why).
"""

import logging
import threading
import time

from django.conf import settings

log = logging.getLogger(__name__)


def model_uris() -> list[str]:
    """The URIs of the models live apps run now: each MLflow-model app's, then the demo chain's."""
    from django.db.models import Q

    from reviewapp.catalog.models import App

    apps = App.objects.alive().filter(Q(adapter=App.Adapter.MLFLOW) | Q(adapter=App.Adapter.DEMO))
    uris: list[str] = []
    demo = False
    for adapter, config in apps.values_list("adapter", "adapter_config"):
        if adapter == App.Adapter.DEMO:
            demo = True
        elif isinstance(config, dict) and isinstance(config.get("model_uri"), str) and config["model_uri"]:
            uris.append(config["model_uri"])
    if demo:
        from .adapters import demo_model_uri

        uris.append(demo_model_uri())
    return list(dict.fromkeys(uris))


def warm(uris: list[str] | None = None) -> list[str]:
    """Load each model into this process's cache; the concrete URIs loaded (failures are logged)."""
    from . import mlflow_model

    warmed = []
    for uri in model_uris() if uris is None else uris:
        started = time.monotonic()
        try:
            concrete, _model = mlflow_model.load(uri)
        except Exception as exc:  # one broken app must not keep the others cold
            log.warning(
                "could not warm %s: %s", uri, str(exc).strip().splitlines()[0][:300] if str(exc) else exc
            )
            continue
        log.info("warmed %s in %.1f s", concrete, time.monotonic() - started)
        warmed.append(concrete)
    return warmed


def _run() -> None:
    from django.db import connections

    try:
        warm()
    except Exception:
        log.exception("warming the chains stopped")
    finally:
        connections.close_all()  # this thread's own connections


def start_in_background() -> threading.Thread | None:
    """Start warming on a daemon thread (CHAIN_WARMUP=false: not at all)."""
    if not settings.CHAIN_WARMUP:
        return None
    thread = threading.Thread(target=_run, name="chain-warmup", daemon=True)
    thread.start()
    return thread
