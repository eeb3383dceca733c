"""Test settings: the real settings, plus what makes tests fast and isolated.

Each pytest process (each xdist worker too) gets its own MLflow store, filesystem broker folder
and Redis database, exported in the environment so worker processes started by tests see the
same ones.
"""

import os
import tempfile
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


def _redis_url_for_worker(url: str, index: int) -> str:
    """The Redis URL's database number plus `index`: xdist workers must not purge each other's queues."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = dict(parse_qsl(parts.query))
        query["db"] = str(int(query.get("db") or 0) + index)
        return urlunsplit(parts._replace(query=urlencode(query)))
    db = int(parts.path.strip("/") or 0) + index
    return urlunsplit(parts._replace(path=f"/{db}"))


_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
_run_dir = os.environ.get("REVIEWAPP_TEST_RUN_DIR")
# xdist workers inherit the controller's environment: a run folder made by another pytest
# process (not one that started this process) is not ours.
if not _run_dir or os.environ.get("REVIEWAPP_TEST_RUN_DIR_WORKER", "") != _worker:
    if _run_dir:
        for _name, _value in list(os.environ.items()):
            if _run_dir in _value:
                del os.environ[_name]
    _run_dir = tempfile.mkdtemp(prefix=f"reviewapp-test-{_worker}-" if _worker else "reviewapp-test-")
    os.environ["REVIEWAPP_TEST_RUN_DIR"] = _run_dir
    os.environ["REVIEWAPP_TEST_RUN_DIR_WORKER"] = _worker
    # Processes started by tests inherit the folder; only the pytest process that made it removes it.
    os.environ["REVIEWAPP_TEST_RUN_DIR_OWNER"] = str(os.getpid())
    if _worker and os.environ.get("REDIS_URL"):
        os.environ["REDIS_URL"] = _redis_url_for_worker(
            os.environ["REDIS_URL"], int(_worker.removeprefix("gw"))
        )
os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{_run_dir}/mlflow.db")
os.environ.setdefault("MLFLOW_ARTIFACT_ROOT", f"{_run_dir}/mlartifacts")
os.environ.setdefault("CELERY_FS_BROKER_DIR", f"{_run_dir}/broker")
os.environ.setdefault("EXPORT_DIR", f"{_run_dir}/exports")
os.environ.setdefault("MEDIA_ROOT", f"{_run_dir}/media")
# The chain servers tests start listen on loopback; tests of the egress policy override this.
os.environ.setdefault("CHAIN_URL_ALLOW", "127.0.0.1,localhost,[::1]")
# Judge models that fail are retried; tests wait a twentieth of the production wait between tries.
os.environ.setdefault("JUDGE_RETRY_SECONDS", "0.05")
# Settings read a key but never write one; `make run` writes var/secret_key, tests bring their own.
os.environ.setdefault("SECRET_KEY", "tests-only-not-a-secret-abcdefghijklmnopqrstuvwxyz0123456789")
os.environ.setdefault("VAR_DIR", _run_dir)

from reviewapp.settings import *  # noqa: E402,F403
from reviewapp.settings import DATABASES  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not memory: worker threads and processes started by tests must see the test database.
    DATABASES["default"]["TEST"] = {"NAME": f"{_run_dir}/test.sqlite3"}
# The live server's threads keep HTTP connections alive past the test: a database connection
# kept open by one of them would stop the test database from being dropped at the end.
DATABASES["default"]["CONN_MAX_AGE"] = 0
STORAGES = {
    **FILE_STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Playwright's sync API runs an event loop in the test thread; the ORM calls made there are
# still synchronous, so Django's async-safety guard would be a false alarm in tests.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# allauth limits sign-ins per IP (30/min) in the cache; every test client is 127.0.0.1 and
# parallel runs share the cache, so the limits would make sign-in tests fail at random.
ACCOUNT_RATE_LIMITS = False

# The same goes for the API throttles: parallel workers' users and tokens share primary keys, so
# they would share counts. tests/accounts/test_throttling.py turns them on with its own key prefix.
API_THROTTLE_RATES = dict.fromkeys(API_THROTTLE_RATES)  # noqa: F405

# The demo chain streams at once; tests that watch it stream slow it down themselves.
DEMO_STREAM_DELAY_SECONDS = 0

# Tests never run collectstatic: WhiteNoise finds files where they are, without warning.
WHITENOISE_AUTOREFRESH = True
