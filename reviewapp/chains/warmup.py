"""Warm web workers: load the live MLflow-model apps' current models when a worker starts.

Loading a pyfunc chain takes seconds; without this, the first question each worker gets waits for
it. The loading runs on a daemon thread, one model after another, while the worker already serves;
a model that cannot be loaded is logged and skipped (its first call will say why). A worker keeps
only mlflow_model.CACHE_SIZE models, so only that many are warmed: those of the apps used last.
"""

import logging
import threading
import time

from django.conf import settings

log = logging.getLogger(__name__)


def model_uris() -> list[str]:
    """The URIs of the models live apps run now, the apps asked most recently first (then the apps
    changed most recently), as many as a worker keeps loaded; the demo chain's stands for demo apps."""
    from django.db.models import F, OuterRef, Q, Subquery

    from reviewapp.catalog.models import App

    from . import mlflow_model

    # The request log is a higher app than this one: its model is reached through App's relation.
    requests = App._meta.get_field("requests").related_model.objects
    last_asked = requests.filter(app=OuterRef("pk")).order_by("-created_at").values("created_at")[:1]
    apps = (
        App.objects.alive()
        .filter(Q(adapter=App.Adapter.MLFLOW) | Q(adapter=App.Adapter.DEMO))
        .annotate(last_asked=Subquery(last_asked))
        .order_by(F("last_asked").desc(nulls_last=True), "-updated_at", "pk")
    )
    uris: list[str] = []
    for adapter, config in apps.values_list("adapter", "adapter_config"):
        if len(uris) >= mlflow_model.CACHE_SIZE:
            break
        if adapter == App.Adapter.DEMO:
            from .adapters import demo_model_uri

            uri = demo_model_uri()
        elif isinstance(config, dict) and isinstance(config.get("model_uri"), str) and config["model_uri"]:
            uri = config["model_uri"]
        else:
            continue
        if uri not in uris:
            uris.append(uri)
    return uris


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
        uris = model_uris()
        # Loading takes long and needs no database: the connection is not held meanwhile.
        connections.close_all()
        warm(uris)
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
