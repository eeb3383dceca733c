"""Personas (DESIGN.md permission levels) and shared fixtures.

manager, querier, viewer: direct grants on `app`; group_querier: CAN_QUERY only through a group;
outsider: signed in, no grant; anonymous: not signed in.
"""

import contextlib
import copy
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
from django.test import Client

from reviewapp.catalog.models import Level
from tests import factories

PASSWORD = "pw-for-tests"


# The files that take longest, mostly waiting (a job's lease running out, browsers, a fuzzer):
# under xdist they are handed out first, so they overlap the rest instead of ending the run.
SLOW_FILES = [
    "tests/foundation/test_embedded_thousand_jobs.py",
    "tests/foundation/test_embedded_broker.py",
    "tests/front/test_database_down.py",
    "tests/front/test_redis_down.py",
    "tests/exports/test_worker_killed.py",
    "tests/jobs/test_jobs_and_the_broker.py",
    "tests/exports/test_mlflow_step_retry_lost.py",
    "tests/jobs/test_sweep_queue.py",
    "tests/exports/test_exports_on_shared_storage.py",
    "tests/requestlog/test_imports_on_shared_storage.py",
    "tests/queues/test_review_flow_browser.py",
    "tests/foundation/test_load_demo.py",
    "tests/feedback/test_feedback_browser.py",
    "tests/chat/test_chat_browser.py",
    "tests/api/test_schemathesis.py",
    "tests/front/test_csp_browser.py",
    "tests/foundation/test_serve_command.py",
    "tests/foundation/test_serve_processes.py",
    "tests/front/test_production_shape.py",
    "tests/foundation/test_warm_workers.py",
    "tests/chat/test_incomplete_browser.py",
    "tests/chat/test_odd_text_property.py",
    "tests/foundation/test_logs_processes.py",
    "tests/monitoring/test_metrics_processes.py",
    "tests/monitoring/test_promql_names.py",
    "tests/monitoring/test_dashboard_browser.py",
    "tests/requestlog/test_log_chips_browser.py",
]


def pytest_xdist_make_scheduler(config, log):
    """xdist's `--dist loadfile` (which hands out the files with most tests first), SLOW_FILES first."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SlowFilesFirst(LoadFileScheduling):
        def _assign_work_unit(self, node):
            for path in reversed(SLOW_FILES):
                if path in self.workqueue:
                    self.workqueue.move_to_end(path, last=False)
            super()._assign_work_unit(node)

    return SlowFilesFirst(config, log)


def pytest_sessionfinish(session, exitstatus):
    """Remove this run's temporary folder (MLflow store, broker, exports, SQLite test database)."""
    if os.environ.get("REVIEWAPP_TEST_RUN_DIR_OWNER") == str(os.getpid()):
        shutil.rmtree(os.environ["REVIEWAPP_TEST_RUN_DIR"], ignore_errors=True)


@pytest.fixture
def app(db):
    return factories.make_app("support-bot", name="Support bot")


def member(app, email: str, level: Level):
    """A user with a direct grant of `level` on `app`."""
    user = factories.make_user(email, PASSWORD)
    factories.grant(app, user, level)
    return user


@pytest.fixture
def manager(app):
    return member(app, "manager@example.com", Level.CAN_MANAGE)


@pytest.fixture
def querier(app):
    return member(app, "querier@example.com", Level.CAN_QUERY)


@pytest.fixture
def viewer(app):
    return member(app, "viewer@example.com", Level.CAN_VIEW)


@pytest.fixture
def group_querier(app):
    user = factories.make_user("grouped@example.com", PASSWORD)
    group = factories.make_group("support-team", members=[user])
    factories.grant(app, group, Level.CAN_QUERY)
    return user


@pytest.fixture
def outsider(db):
    return factories.make_user("outsider@example.com", PASSWORD)


@pytest.fixture
def staff(db):
    return factories.make_user("admin@example.com", PASSWORD, is_staff=True, is_superuser=True)


def client_for(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def client_as(live_server):
    """`client_as(user)` → reviewapp.client.Client on the live server with a new token of that user."""
    from reviewapp.accounts.models import ApiToken
    from reviewapp.client import Client

    def make(user) -> Client:
        _token, raw = ApiToken.issue(user=user, name="client test")
        return Client(live_server.url, token=raw, timeout=30)

    return make


@pytest.fixture
def as_user():
    """`as_user(user)` → a test client signed in as that user (None → anonymous)."""
    return client_for


@pytest.fixture(scope="session")
def celery_session_worker(django_db_setup, django_db_blocker):
    """One real Celery worker (a thread of this process) on the configured broker, for the session.

    Redis in CI; the filesystem broker of the embedded default otherwise. It takes tasks only
    while a test that asks for `celery_worker` runs; tests that kill workers start their own.
    """
    from celery.contrib.testing.worker import start_worker
    from celery.signals import task_postrun, task_received
    from django import db

    from reviewapp.celery import app as celery_app

    received = set()

    def on_received(request, **kwargs):
        received.add(request.id)

    def close_connections(**kwargs):
        # The worker thread's connection would outlive the session and block dropping the test
        # database ("being accessed by other users"); a task run eagerly by a test keeps its own.
        if threading.current_thread() is not threading.main_thread():
            db.connections.close_all()

    task_received.connect(on_received, weak=False)
    task_postrun.connect(close_connections, weak=False)
    celery_app.control.purge()
    try:
        with contextlib.ExitStack() as stack:
            with django_db_blocker.unblock():
                worker = stack.enter_context(
                    start_worker(
                        celery_app, perform_ping_check=False, loglevel="WARNING", shutdown_timeout=30
                    )
                )
            worker.received = received
            yield worker
    finally:
        task_received.disconnect(on_received)
        task_postrun.disconnect(close_connections)


@pytest.fixture
def celery_worker(transactional_db, celery_session_worker):
    """The session's Celery worker, taking tasks for this test only (queued ones are purged)."""
    from celery.worker import state

    from reviewapp.celery import app as celery_app

    worker = celery_session_worker
    queues = list(celery_app.amqp.queues)  # the default one and the sweeps'
    celery_app.control.purge()
    worker.received.clear()
    consumer = worker.consumer
    for queue in queues:
        consumer.call_soon(consumer.add_task_queue, queue)
    _wait_until(
        lambda: all(consumer.task_consumer.consuming_from(q) for q in queues), "the worker to take tasks"
    )
    yield worker
    # The consumer's loop stops taking tasks once the running one (if any) is done.
    for queue in queues:
        consumer.call_soon(consumer.task_consumer.cancel_by_queue, queue)

    def busy():
        return (
            any(consumer.task_consumer.consuming_from(q) for q in queues)
            or state.active_requests
            or state.reserved_requests
        )

    _wait_until(lambda: not busy(), "the worker to finish its task")
    # Retries waiting for their countdown in the worker: a stopped worker would never run them.
    for task_id in worker.received:
        state.revoked.add(task_id)
    celery_app.control.purge()


def _wait_until(check, what: str, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="session")
def demo_model_uri():
    """The demo chain, logged and registered once per test run in the run's MLflow store.

    Returns "models:/reviewapp-demo@champion"; use it as an app's adapter_config model_uri.
    """
    from reviewapp.chains.demo import ensure_registered

    return ensure_registered()


@pytest.fixture(scope="session")
def scoring_server(demo_model_uri):
    """`mlflow models serve` on the demo chain, on a free loopback port (slow to start: once a session)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    bin_dir = str(Path(sys.executable).parent)  # mlflow execs uvicorn from PATH
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}
    log = open(Path(os.environ["REVIEWAPP_TEST_RUN_DIR"]) / f"mlflow-serve-{port}.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [f"{bin_dir}/mlflow", "models", "serve", "-m", demo_model_uri, "--env-manager", "local"]
        + ["-h", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                log.flush()
                pytest.fail(f"mlflow models serve exited: {Path(log.name).read_text()[-2000:]}")
            try:
                if requests.get(f"{url}/ping", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("mlflow models serve did not start within 180 s")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium driven by Playwright. Not starting is a failure, never a skip."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class _RequestsInFlight:
    """Wraps the live server's WSGI app to count the requests it is still serving.

    A page can have a request in flight when its test ends (the save behind a last click, an
    autosave): the server goes on serving it after the browser is gone, and a database flushed
    under it fails that test's teardown and leaves rows behind for the next test.
    """

    def __init__(self, app):
        self.app = app
        self.count = 0
        self.idle = threading.Condition()

    def __call__(self, environ, start_response):
        with self.idle:
            self.count += 1
        try:
            response = self.app(environ, start_response)
        except BaseException:
            self._done()
            raise
        return _ClosedThen(response, self._done)

    def _done(self):
        with self.idle:
            self.count -= 1
            self.idle.notify_all()

    def wait_idle(self, timeout: float) -> None:
        with self.idle:
            self.idle.wait_for(lambda: self.count == 0, timeout=timeout)


class _ClosedThen:
    """A WSGI response that calls `then` once the server has closed it (Django's request_finished runs in close)."""

    def __init__(self, response, then):
        self.response, self.then = response, then

    def __iter__(self):
        return iter(self.response)

    def close(self):
        try:
            if hasattr(self.response, "close"):
                self.response.close()
        finally:
            self.then()


def _requests_in_flight(live_server) -> _RequestsInFlight:
    server = live_server.thread.httpd
    if not isinstance(server.application, _RequestsInFlight):
        server.set_app(_RequestsInFlight(server.application))
    return server.application


@pytest.fixture
def page_for(browser, live_server):
    """`page_for(user)` → a Playwright page signed in as `user` on the live server."""
    in_flight = _requests_in_flight(live_server)
    contexts = []

    def make(user):
        context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
        contexts.append(context)
        if user is not None:
            client = Client()
            client.force_login(user)
            cookie = client.cookies["sessionid"]
            context.add_cookies([{"name": "sessionid", "value": cookie.value, "url": live_server.url}])
        page = context.new_page()
        page.set_default_timeout(15_000)
        return page

    yield make
    for context in contexts:
        context.close()
    in_flight.wait_idle(timeout=30)


@pytest.fixture
def throttle_rates(settings):
    """Throttles on (all rates off until a test sets one: `throttle_rates["feedback"] = "2/min"`),
    counting under a cache key prefix of this test's own, since parallel runs share Redis."""
    caches = copy.deepcopy(settings.CACHES)
    caches["default"]["KEY_PREFIX"] = f"throttle-test-{uuid.uuid4().hex}"
    settings.CACHES = caches
    settings.API_THROTTLE_RATES = dict.fromkeys(("user", "feedback", "invocations", "imports", "exports"))
    return settings.API_THROTTLE_RATES


@pytest.fixture(scope="session", autouse=True)
def _no_connection_outlives_the_session(django_db_setup, django_db_blocker):
    """Close what is still connected to this worker's test database before it is dropped.

    Playwright's sync API runs tests inside greenlets, and Django keeps a connection per context,
    so a test after a browser test can leave one the teardown's context never sees; PostgreSQL
    then refuses to drop the database ("being accessed by other users").
    """
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture
def judge_server(monkeypatch):
    """A judge model on loopback answering by its rule (tests.judges.judge_model), its key set."""
    from tests.judges import judge_model

    monkeypatch.setenv(judge_model.KEY_ENV, judge_model.KEY)
    server = judge_model.start()
    yield server
    server.__exit__(None, None, None)
