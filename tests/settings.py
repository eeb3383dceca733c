"""Test settings: the real settings, plus what makes tests fast and isolated.

Each pytest process gets its own MLflow store and (without Redis) its own filesystem broker
folder, exported in the environment so worker processes started by tests see the same ones.
"""

import os
import tempfile

_run_dir = os.environ.get("REVIEWAPP_TEST_RUN_DIR")
if not _run_dir:
    _run_dir = tempfile.mkdtemp(prefix="reviewapp-test-")
    os.environ["REVIEWAPP_TEST_RUN_DIR"] = _run_dir
    # Processes started by tests inherit the folder; only the pytest process that made it removes it.
    os.environ["REVIEWAPP_TEST_RUN_DIR_OWNER"] = str(os.getpid())
os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{_run_dir}/mlflow.db")
os.environ.setdefault("MLFLOW_ARTIFACT_ROOT", f"{_run_dir}/mlartifacts")
os.environ.setdefault("CELERY_FS_BROKER_DIR", f"{_run_dir}/broker")
os.environ.setdefault("EXPORT_DIR", f"{_run_dir}/exports")
os.environ.setdefault("MEDIA_ROOT", f"{_run_dir}/media")
# The chain servers tests start listen on loopback; tests of the egress policy override this.
os.environ.setdefault("CHAIN_URL_ALLOW", "127.0.0.1,localhost,[::1]")

from reviewapp.settings import *  # noqa: E402,F403
from reviewapp.settings import DATABASES  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not memory: worker threads and processes started by tests must see the test database.
    DATABASES["default"]["TEST"] = {"NAME": f"{_run_dir}/test.sqlite3"}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
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
