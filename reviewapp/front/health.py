"""What /healthz checks: the database, Redis (or the embedded broker) and the MLflow store.

Each check returns {"status": "ok" | "embedded" | "down", ...}; "down" carries the error.

Only the database is needed to serve: without Redis or MLflow, sign-in, chat and feedback still
work (jobs and MLflow write-backs wait for them to come back). So /healthz answers 503 only when
the database is down; with Redis or MLflow down it answers 200 "degraded", naming them, because
a load balancer that took every replica out for it would turn a partial outage into a whole one.

A balancer's probe gives up after 1 to 5 s, so the answer must come sooner even when Redis or
MLflow hang: their checks run in threads of their own, at the same time as the database's, and
one that has not answered within BUDGET_SECONDS counts as down. A check's answer is reused for
FRESH_SECONDS, and a check still running is waited for rather than started again, so frequent
probes of a hung service cost one thread, not one per probe.

The errors name hosts, ports, users and paths, and an HTTP error even the password in the URL:
they are logged (when a check goes down or its error changes) and shown to staff only, with any
password in a URL masked.
"""

import logging
import os
import re
import sqlite3
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from urllib.parse import urlparse

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

logger = logging.getLogger(__name__)

# The whole answer comes within this (plus the database's own check), under a probe's timeout.
BUDGET_SECONDS = 1.5
# Each check's own connect and read timeouts: under the budget, so a hung service frees its thread.
TIMEOUT_SECONDS = 1.0
FRESH_SECONDS = 3.0
# A check running this long (a server that trickles bytes) is left to itself and a new one started.
ABANDON_SECONDS = 60.0
USABLE = {"ok", "embedded"}

# scheme://user:password@ → scheme://user:***@ (redis://:password@ too); up to the last "@" of the
# address part, in case the password has one.
_PASSWORD_IN_URL = re.compile(r"(?P<start>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*):[^\s/?#]*@")


def redact(text: str) -> str:
    """`text` with the password of every URL in it masked."""
    return _PASSWORD_IN_URL.sub(r"\g<start>:***@", text)


def _down(exc: Exception) -> dict:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return {"status": "down", "error": redact(f"{type(exc).__name__}: {text[:300]}")}


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
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    try:
        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=TIMEOUT_SECONDS,
            socket_timeout=TIMEOUT_SECONDS,
            # redis-py retries a timeout three times, with back-off: one try is the answer.
            retry=Retry(NoBackoff(), 0),
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


class _Run:
    """One check running in a thread of its own (a daemon: a hung one does not hold up exit)."""

    def __init__(self, check, argument):
        self.started = time.monotonic()
        self.finished: float | None = None
        self.future: Future = Future()
        threading.Thread(target=self._run, args=(check, argument), name="healthz", daemon=True).start()

    def _run(self, check, argument) -> None:
        try:
            result = check(argument)
        except Exception as exc:  # a check reports its errors; this is one it did not expect
            result = _down(exc)
        self.finished = time.monotonic()
        self.future.set_result(result)

    def reusable(self, now: float) -> bool:
        if self.finished is None:
            return now - self.started < ABANDON_SECONDS
        return now - self.finished < FRESH_SECONDS

    def result(self) -> dict:
        """The check's answer, or "down" when it has not come within the budget of its start."""
        waited = max(0.0, self.started + BUDGET_SECONDS - time.monotonic())
        try:
            return self.future.result(timeout=waited)
        except FutureTimeout:
            return {"status": "down", "error": f"timed out: no answer within {BUDGET_SECONDS:g} s"}


_runs: dict[tuple, _Run] = {}
_runs_lock = threading.Lock()
_runs_pid = os.getpid()


def _shared_run(key: tuple, check, argument) -> _Run:
    """The run of `check` for `key` that is fresh or still running, else a new one."""
    global _runs_pid
    now = time.monotonic()
    with _runs_lock:
        if _runs_pid != os.getpid():  # a forked child has none of its parent's threads
            _runs.clear()
            _runs_pid = os.getpid()
        run = _runs.get(key)
        if run is None or not run.reusable(now):
            for stale in [k for k, r in _runs.items() if not r.reusable(now)]:
                del _runs[stale]
            run = _runs[key] = _Run(check, argument)
        return run


# Without these the web cannot answer anything useful.
NEEDED_TO_SERVE = {"database"}


def report() -> tuple[int, dict]:
    """(HTTP status, {"status": "ok" | "degraded" | "down", "down", "checks"}) for /healthz, with
    every error: `shown_to()` takes them out for anyone but staff."""
    redis_url, mlflow_uri = settings.REDIS_URL or "", settings.MLFLOW_TRACKING_URI
    redis_key = ("redis", redis_url or f"embedded:{settings.CELERY_FS_BROKER_DIR}")
    redis_run = _shared_run(redis_key, check_redis, redis_url)
    mlflow_run = _shared_run(("mlflow", mlflow_uri), check_mlflow, mlflow_uri)
    # On this request's own connection, the one the web serves with (bounded by its connect_timeout).
    database = check_database()
    checks = {"database": database, "redis": redis_run.result(), "mlflow": mlflow_run.result()}
    _log_changes(checks)
    down = [name for name, check in checks.items() if check["status"] not in USABLE]
    if NEEDED_TO_SERVE & set(down):
        return 503, {"status": "down", "down": down, "checks": checks}
    return 200, {"status": "degraded" if down else "ok", "down": down, "checks": checks}


def shown_to(request, body: dict) -> dict:
    """`body` for staff; for anyone else only each check's status and what is down."""
    if _is_staff(request, body):
        return body
    return {**body, "checks": {name: {"status": check["status"]} for name, check in body["checks"].items()}}


def _is_staff(request, body: dict) -> bool:
    if "database" in body["down"]:
        return False  # the session and the user are rows: no one can be known to be staff
    try:
        return bool(request.user.is_staff)
    except DatabaseError:
        return False


_logged: dict[str, str] = {}  # check → the error last logged for it
_logged_lock = threading.Lock()


def _log_changes(checks: dict) -> None:
    """A line when a check goes down or its error changes, and one when it is usable again: not
    one per probe while an outage lasts."""
    with _logged_lock:
        for name, check in checks.items():
            error, before = check.get("error"), _logged.get(name)
            if check["status"] not in USABLE and error != before:
                _logged[name] = error
                logger.warning("Health check: %s is down (%s)", name, error)
            elif check["status"] in USABLE and before is not None:
                del _logged[name]
                logger.warning("Health check: %s is usable again", name)
