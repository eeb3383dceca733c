"""With the database unreachable: the API answers JSON 503 with Retry-After, a browser gets a
friendly 503 page, /healthz names the database; once it is back, the same web process serves
again and writes land, without a restart.

Real gunicorn processes: one whose DATABASE_URL points where nothing listens, and one on the test
database behind a cut that the test opens and closes (a TCP proxy for PostgreSQL; for SQLite, whose
database is a local file, the path to its folder, as when the volume holding it goes away).
"""

import os
import socket
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from django.db import connection
from django.db.backends.postgresql.base import DatabaseWrapper as PostgresWrapper
from django.db.backends.sqlite3.base import DatabaseWrapper as SqliteWrapper
from django.db.utils import DatabaseError
from django.test import RequestFactory

from reviewapp.accounts.models import ApiToken
from reviewapp.catalog.models import Level
from reviewapp.feedback.models import Assessment
from reviewapp.front import unavailable
from tests import factories
from tests.conftest import PASSWORD
from tests.processes import (
    TcpProxy,
    database_url,
    free_port,
    process,
    tail,
    wait_listening,
    web_args,
)
from tests.processes import test_env as child_env

SCIM_TOKEN = "scim-token-for-the-database-down-test"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def web(tmp_path: Path, database: str):
    port = free_port()
    log = tmp_path / "web.log"
    env = child_env(
        DJANGO_SETTINGS_MODULE="tests.front.fault_settings",
        DATABASE_URL=database,
        SCIM_TOKEN=SCIM_TOKEN,
        CHAIN_WARMUP="false",
    )
    with process(web_args(port), env, log) as child:
        wait_listening(port, child, log)
        yield f"http://127.0.0.1:{port}", log


def assert_api_503(answer: requests.Response, log: Path) -> None:
    assert answer.status_code == 503, (answer.status_code, answer.text[:500], tail(log))
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == {"detail": unavailable.DETAIL, "code": "database_unavailable"}
    assert int(answer.headers["Retry-After"]) > 0


def assert_friendly_503(answer: requests.Response, log: Path) -> None:
    assert answer.status_code == 503, (answer.status_code, answer.text[:500], tail(log))
    assert answer.headers["Content-Type"].startswith("text/html")
    assert "Back in a moment" in answer.text and "cannot reach its database" in answer.text
    assert "Traceback" not in answer.text and "OperationalError" not in answer.text
    assert int(answer.headers["Retry-After"]) > 0


@pytest.mark.parametrize(
    "database",
    ["postgresql://postgres@127.0.0.1:{port}/reviewapp", "sqlite:///{tmp}/no-such-volume/db.sqlite3"],
    ids=["postgresql-refused", "sqlite-missing"],
)
def test_every_kind_of_client_gets_a_503_when_the_database_cannot_be_reached(db, tmp_path, database):
    url = database.format(port=closed_port(), tmp=tmp_path)
    with web(tmp_path, url) as (base, log):
        api_read = requests.get(
            f"{base}/api/v1/apps", headers={"Authorization": "Bearer rvw_any"}, timeout=30
        )
        api_write = requests.post(
            f"{base}/api/v1/apps/support-bot/feedback",
            json={"request_id": "5f0e4bd4-7a0c-4df4-9d8b-4c8c2b1e8d11", "rating": "positive"},
            headers={"Authorization": "Bearer rvw_any"},
            timeout=30,
        )
        # A signed-in browser: the session is read from the database by the middleware.
        page = requests.get(f"{base}/apps/", cookies={"sessionid": "a-session"}, timeout=30)
        scim = requests.get(
            f"{base}/scim/v2/Users", headers={"Authorization": f"Bearer {SCIM_TOKEN}"}, timeout=30
        )
        health = requests.get(f"{base}/healthz", timeout=30)

    assert_api_503(api_read, log)
    assert_api_503(api_write, log)
    assert_friendly_503(page, log)
    assert scim.status_code == 503, (scim.status_code, scim.text[:500])
    assert scim.headers["Content-Type"] == "application/scim+json"
    assert scim.json()["status"] == "503" and "Retry-After" in scim.headers
    assert health.status_code == 503
    assert health.json()["status"] == "down" and health.json()["down"][0] == "database"
    # Where the database is, and as whom, is for the log: no one can be known to be staff now.
    assert health.json()["checks"]["database"] == {"status": "down"}
    assert "127.0.0.1" not in health.text and "no-such-volume" not in health.text
    # One line per refused request, no traceback: the cause is known.
    said = log.read_text()
    assert "Database unreachable, answered 503: POST /api/v1/apps/support-bot/feedback" in said
    assert "Traceback" not in said


class PostgresCut:
    """The test database through a TCP proxy the test can cut."""

    def __init__(self):
        settings = connection.settings_dict
        self.proxy = TcpProxy(settings["HOST"] or "127.0.0.1", int(settings["PORT"] or 5432))
        self.url = database_url().replace(f":{settings['PORT'] or 5432}/", f":{self.proxy.port}/")

    def __enter__(self):
        self.proxy.__enter__()
        return self

    def __exit__(self, *exc):
        self.proxy.__exit__(*exc)

    def cut(self):
        self.proxy.cut()

    def restore(self):
        self.proxy.restore()


class SqliteCut:
    """The test database's file through a link to its folder that the test removes and puts back:
    SQLite cannot open a file whose folder is gone (and makes no folders), as with a lost volume."""

    def __init__(self, tmp_path: Path):
        name = Path(connection.settings_dict["NAME"])
        self.folder = name.parent
        self.link = tmp_path / "volume"
        self.url = f"sqlite:///{self.link / name.name}"

    def __enter__(self):
        self.restore()
        return self

    def __exit__(self, *exc):
        if self.link.is_symlink():
            self.link.unlink()

    def cut(self):
        self.link.unlink()

    def restore(self):
        os.symlink(self.folder, self.link)


def test_the_same_web_process_serves_again_once_the_database_is_back(transactional_db, tmp_path):
    app = factories.make_app("support-bot", name="Support bot")
    user = factories.make_user("querier@example.com", PASSWORD)
    factories.grant(app, user, Level.CAN_QUERY)
    asked = [factories.make_request(app, user=user, question=f"Question {n}") for n in range(3)]
    _token, raw = ApiToken.issue(user=user, name="database down")
    bearer = {"Authorization": f"Bearer {raw}"}
    cut = PostgresCut() if connection.vendor == "postgresql" else SqliteCut(tmp_path)

    def feedback(req, rating):
        return requests.post(
            f"{base}/api/v1/apps/{app.slug}/feedback",
            json={"request_id": str(req.request_id), "rating": rating},
            headers=bearer,
            timeout=30,
        )

    # The browser's connection is closed before gunicorn stops (it waits for kept-alive ones).
    with cut, web(tmp_path, cut.url) as (base, log), requests.Session() as browser:
        browser.get(f"{base}/accounts/login/", timeout=30)
        signed_in = browser.post(
            f"{base}/accounts/login/",
            data={
                "login": user.email,
                "password": PASSWORD,
                "csrfmiddlewaretoken": browser.cookies["csrftoken"],
            },
            allow_redirects=False,
            timeout=30,
        )
        assert signed_in.status_code == 302, tail(log)
        before = feedback(asked[0], "positive")

        cut.cut()
        during = [feedback(asked[1], "positive") for _ in range(3)]
        page_during = browser.get(f"{base}/apps/", timeout=30)
        health_during = requests.get(f"{base}/healthz", timeout=30)

        cut.restore()
        after = feedback(asked[2], "negative")
        page_after = browser.get(f"{base}/apps/", timeout=30)
        health_after = requests.get(f"{base}/healthz", timeout=30)

    assert before.status_code == 201, (before.text, tail(log))
    for answer in during:
        assert_api_503(answer, log)
    assert_friendly_503(page_during, log)
    assert health_during.status_code == 503 and "database" in health_during.json()["down"]
    # The first request after the database is back already succeeds: a kept connection the cut
    # broke is checked and replaced before use.
    assert after.status_code == 201, (after.status_code, after.text[:500], tail(log))
    assert page_after.status_code == 200 and user.email in page_after.text
    assert health_after.json()["checks"]["database"]["status"] == "ok"
    stored = Assessment.objects.filter(app=app).order_by("created_at")
    assert [(a.request_id, a.rating) for a in stored] == [
        (asked[0].request_id, "positive"),
        (asked[2].request_id, "negative"),
    ]


# What counts as "cannot reach the database": only errors of the connection kind become a 503.


@pytest.mark.django_db
def test_a_refused_or_missing_database_counts_as_unreachable(tmp_path):
    refused = PostgresWrapper(
        {
            **connection.settings_dict,
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "reviewapp",
            "USER": "postgres",
            "HOST": "127.0.0.1",
            "PORT": closed_port(),
            "OPTIONS": {"connect_timeout": 2},
            "CONN_HEALTH_CHECKS": False,
        }
    )
    missing = SqliteWrapper(
        {
            **connection.settings_dict,
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(tmp_path / "gone" / "db.sqlite3"),
            "OPTIONS": {},
        }
    )
    for wrapper in (refused, missing):
        with pytest.raises(DatabaseError) as raised:
            wrapper.ensure_connection()
        assert unavailable.is_unreachable(raised.value), repr(raised.value)


@pytest.mark.django_db
def test_a_wrong_query_is_no_outage():
    # On SQLite "no such table" is an OperationalError too; it stays a 500.
    with pytest.raises(DatabaseError) as raised, connection.cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table")
    assert not unavailable.is_unreachable(raised.value)


def too_many_parameters():
    """A connection to the test database that refuses a query with too many parameters itself:
    PostgreSQL's protocol allows 65535, which psycopg checks when the parameters are sent apart
    from the query (Django's server_side_binding; by default it inlines them), SQLite 250000."""
    if connection.vendor == "postgresql":
        options = {**connection.settings_dict["OPTIONS"], "server_side_binding": True}
        return PostgresWrapper({**connection.settings_dict, "OPTIONS": options}), 70_000
    return connection, 300_000


@pytest.mark.django_db
def test_a_query_the_driver_refuses_itself_is_no_outage():
    """psycopg's own OperationalError without a SQLSTATE (on SQLite, one of its own): the
    connection is fine, so handler500 answers the 500 of a bug, not a 503."""
    wrapper, count = too_many_parameters()
    refused = None
    try:
        with wrapper.cursor() as cursor:
            cursor.execute(f"SELECT 1 WHERE 1 IN ({', '.join(['%s'] * count)})", list(range(count)))
    except DatabaseError as exc:
        refused = exc
        answer = unavailable.server_error(RequestFactory().get("/api/v1/apps"))
    finally:
        if wrapper is not connection:
            wrapper.close()

    assert refused is not None and not unavailable.is_unreachable(refused), repr(refused)
    assert answer.status_code == 500


def test_other_errors_are_no_outage():
    assert not unavailable.is_unreachable(ValueError("a bug"))
    assert not unavailable.is_unreachable(None)
