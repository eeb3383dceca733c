"""Personas (DESIGN.md permission levels) and shared fixtures.

manager, querier, viewer: direct grants on `app`; group_querier: CAN_QUERY only through a group;
outsider: signed in, no grant; anonymous: not signed in.
"""

import copy
import os
import shutil
import uuid

import pytest
from django.test import Client

from reviewapp.catalog.models import Level
from tests import factories

PASSWORD = "pw-for-tests"


def pytest_sessionfinish(session, exitstatus):
    """Remove this run's temporary folder (MLflow store, broker, exports, SQLite test database)."""
    if os.environ.get("REVIEWAPP_TEST_RUN_DIR_OWNER") == str(os.getpid()):
        shutil.rmtree(os.environ["REVIEWAPP_TEST_RUN_DIR"], ignore_errors=True)


@pytest.fixture
def app(db):
    return factories.make_app("support-bot", name="Support bot")


@pytest.fixture
def manager(app):
    user = factories.make_user("manager@example.com", PASSWORD)
    factories.grant(app, user, Level.CAN_MANAGE)
    return user


@pytest.fixture
def querier(app):
    user = factories.make_user("querier@example.com", PASSWORD)
    factories.grant(app, user, Level.CAN_QUERY)
    return user


@pytest.fixture
def viewer(app):
    user = factories.make_user("viewer@example.com", PASSWORD)
    factories.grant(app, user, Level.CAN_VIEW)
    return user


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


@pytest.fixture
def celery_worker(transactional_db):
    """A real Celery worker (in a thread of this process) on the configured broker.

    Redis in CI; the filesystem broker of the embedded default otherwise.
    """
    from celery.contrib.testing.worker import start_worker

    from reviewapp.celery import app as celery_app

    celery_app.control.purge()
    with start_worker(
        celery_app, perform_ping_check=False, loglevel="WARNING", shutdown_timeout=30
    ) as worker:
        yield worker


@pytest.fixture(scope="session")
def demo_model_uri():
    """The demo chain, logged and registered once per test run in the run's MLflow store.

    Returns "models:/reviewapp-demo@champion"; use it as an app's adapter_config model_uri.
    """
    from reviewapp.chains.demo import ensure_registered

    return ensure_registered()


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


@pytest.fixture
def page_for(browser, live_server):
    """`page_for(user)` → a Playwright page signed in as `user` on the live server."""
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


@pytest.fixture
def throttle_rates(settings):
    """Throttles on (all rates off until a test sets one: `throttle_rates["feedback"] = "2/min"`),
    counting under a cache key prefix of this test's own, since parallel runs share Redis."""
    caches = copy.deepcopy(settings.CACHES)
    caches["default"]["KEY_PREFIX"] = f"throttle-test-{uuid.uuid4().hex}"
    settings.CACHES = caches
    settings.API_THROTTLE_RATES = dict.fromkeys(("user", "feedback", "invocations", "imports", "exports"))
    return settings.API_THROTTLE_RATES
