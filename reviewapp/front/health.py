"""What /healthz checks: the database, Redis (or the embedded broker) and the MLflow store.

Each check returns {"status": "ok" | "embedded" | "down", ...}; "down" carries the error.
Checks are cheap and bounded by a short timeout, so a load balancer can poll them.

Only the database is needed to serve: without Redis or MLflow, sign-in, chat and feedback still
work (jobs and MLflow write-backs wait for them to come back). So /healthz answers 503 only when
the database is down; with Redis or MLflow down it answers 200 "degraded", naming them, because
a load balancer that took every replica out for it would turn a partial outage into a whole one.
"""

import sqlite3
from pathlib import Path
from urllib.parse import urlparse

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

TIMEOUT_SECONDS = 2
USABLE = {"ok", "embedded"}


def _down(exc: Exception) -> dict:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return {"status": "down", "error": f"{type(exc).__name__}: {text[:300]}"}


def check_database(connection=None) -> dict:
    connection = connection or connections[DEFAULT_DB_ALIAS]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return _down(exc)
    return {"status": "ok", "engine": connection.vendor}


def check_redis(url: str | None = None) -> dict:
    url = settings.REDIS_URL if url is None else url
    if not url:
        from reviewapp.celery import app, make_broker_folders

        try:
            # What this process does before it first sends a job (reviewapp.celery).
            make_broker_folders(app.conf)
        except OSError as exc:
            return _down(exc)
        broker = Path(settings.CELERY_FS_BROKER_DIR) / "in"
        if not broker.is_dir():
            return {"status": "down", "error": f"the embedded broker folder {broker} is missing"}
        return {"status": "embedded", "broker": "filesystem"}
    import redis

    try:
        client = redis.Redis.from_url(
            url, socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS
        )
        client.ping()
        client.close()
    except Exception as exc:
        return _down(exc)
    return {"status": "ok"}


def check_mlflow(uri: str | None = None) -> dict:
    """Reach the tracking store without importing mlflow (seconds) where the scheme allows."""
    uri = uri or settings.MLFLOW_TRACKING_URI
    scheme = urlparse(uri).scheme
    try:
        if scheme in ("http", "https"):
            import requests

            response = requests.get(f"{uri.rstrip('/')}/health", timeout=TIMEOUT_SECONDS)
            response.raise_for_status()
        elif scheme == "sqlite":
            _check_sqlite_store(uri)
        elif scheme in ("postgresql", "postgres", "mysql", "mssql") or "+" in scheme:
            import sqlalchemy

            engine = sqlalchemy.create_engine(uri, pool_pre_ping=False)
            try:
                with engine.connect() as conn:
                    conn.execute(sqlalchemy.text("SELECT 1"))
            finally:
                engine.dispose()
        else:
            from reviewapp.chains.mlflow_setup import configure

            configure().MlflowClient().search_experiments(max_results=1)
    except Exception as exc:
        return _down(exc)
    return {"status": "ok", "store": scheme or "file"}


def _check_sqlite_store(uri: str) -> None:
    path = Path(uri.removeprefix("sqlite:///") if uri.startswith("sqlite:///") else urlparse(uri).path)
    if not path.exists():
        # MLflow creates the file on first use; usable when its folder is writable.
        if not path.parent.is_dir():
            raise FileNotFoundError(f"folder {path.parent} does not exist")
        return
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=TIMEOUT_SECONDS)
    try:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    finally:
        db.close()


# Without these the web cannot answer anything useful.
NEEDED_TO_SERVE = {"database"}


def report() -> tuple[int, dict]:
    """(HTTP status, {"status": "ok" | "degraded" | "down", "down", "checks"}) for /healthz."""
    checks = {"database": check_database(), "redis": check_redis(), "mlflow": check_mlflow()}
    down = [name for name, check in checks.items() if check["status"] not in USABLE]
    if NEEDED_TO_SERVE & set(down):
        return 503, {"status": "down", "down": down, "checks": checks}
    return 200, {"status": "degraded" if down else "ok", "down": down, "checks": checks}
