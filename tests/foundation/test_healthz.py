"""GET /healthz names what is down. 503 only when the web cannot serve (the database is down:
tests/front/test_database_down.py); with Redis or MLflow down it still serves, so 200 "degraded",
and a load balancer keeps the replica in service. It answers within a probe's timeout when they
hang, and tells what went wrong to staff only (the errors name hosts, users, even passwords)."""

import logging
import os
import signal
import socket
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings
from django.db.backends.postgresql.base import DatabaseWrapper
from django.test import override_settings

from reviewapp.front import health
from tests.conftest import client_for
from tests.processes import OwnRedis


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db
def test_it_answers_200_with_every_part_usable(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["down"] == []
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["mlflow"]["status"] == "ok"
    assert body["checks"]["redis"]["status"] == ("ok" if settings.REDIS_URL else "embedded")


def test_it_answers_200_degraded_naming_redis_when_redis_does_not_answer(client, staff):
    port = closed_port()
    with override_settings(REDIS_URL=f"redis://127.0.0.1:{port}/0"):
        response = client.get("/healthz")
        for_staff = client_for(staff).get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded" and body["down"] == ["redis"]
    assert body["checks"]["redis"] == {"status": "down"} and str(port) not in response.text
    assert "ConnectionError" in for_staff.json()["checks"]["redis"]["error"]


@pytest.mark.django_db
def test_it_answers_200_degraded_naming_mlflow_when_the_tracking_server_is_unreachable(client):
    with override_settings(MLFLOW_TRACKING_URI=f"http://127.0.0.1:{closed_port()}"):
        response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["status"] == "degraded" and response.json()["down"] == ["mlflow"]


def test_the_mlflow_check_reports_a_database_store_that_refuses_connections():
    result = health.check_mlflow(f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/mlflow")

    assert result["status"] == "down"
    assert "OperationalError" in result["error"]


def test_it_names_mlflow_when_its_sqlite_folder_is_gone(staff, tmp_path):
    with override_settings(MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path}/missing/mlflow.db"):
        response = client_for(staff).get("/healthz")

    assert response.status_code == 200 and response.json()["down"] == ["mlflow"]
    assert "does not exist" in response.json()["checks"]["mlflow"]["error"]


@pytest.mark.django_db
def test_the_database_check_reports_a_database_that_refuses_connections():
    unreachable = DatabaseWrapper(
        {
            **settings.DATABASES["default"],
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "reviewapp",
            "USER": "postgres",
            "HOST": "127.0.0.1",
            "PORT": closed_port(),
            "OPTIONS": {"connect_timeout": 2},
            "CONN_MAX_AGE": 0,
            "CONN_HEALTH_CHECKS": False,
            "TIME_ZONE": None,
            "AUTOCOMMIT": True,
            "ATOMIC_REQUESTS": False,
        }
    )

    result = health.check_database(unreachable)

    assert result["status"] == "down"
    assert "OperationalError" in result["error"]


@pytest.mark.django_db
def test_it_refuses_post(client):
    assert client.post("/healthz").status_code == 405


# What went wrong is for staff and the server's log, not for whoever can reach the URL.


class Answering(BaseHTTPRequestHandler):
    """An MLflow server that refuses every call (401), as one behind a password does."""

    def do_GET(self):
        self.send_response(401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@contextmanager
def http_server(handler):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_anonymous_callers_and_users_see_only_what_is_down_and_staff_see_why(client, outsider, staff, caplog):
    with (
        http_server(Answering) as port,
        override_settings(MLFLOW_TRACKING_URI=f"http://admin:s3cretpw@127.0.0.1:{port}"),
        caplog.at_level(logging.WARNING, logger="reviewapp.front.health"),
    ):
        anonymous = client.get("/healthz")
        signed_in = client_for(outsider).get("/healthz")
        for_staff = client_for(staff).get("/healthz")

    for answer in (anonymous, signed_in):
        assert answer.status_code == 200
        assert answer.json() == {
            "status": "degraded",
            "down": ["mlflow"],
            "checks": {
                "database": {"status": "ok"},
                "redis": {"status": "ok" if settings.REDIS_URL else "embedded"},
                "mlflow": {"status": "down"},
            },
        }
    error = for_staff.json()["checks"]["mlflow"]["error"]
    assert "401" in error and f"http://admin:***@127.0.0.1:{port}/health" in error
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "mlflow is down (HTTPError: 401" in logged and "admin:***@" in logged
    assert "s3cretpw" not in for_staff.text + logged


# A probe gives up after 1 to 5 s: the answer comes sooner when Redis and MLflow hang.


@contextmanager
def trickling_http_server():
    """A server that never finishes its answer: a header line every 0.2 s, so no read times out."""
    stop = threading.Event()

    class Trickling(BaseHTTPRequestHandler):
        def do_GET(self):
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            while not stop.wait(0.2):
                self.wfile.write(b"X-Still: coming\r\n")
                self.wfile.flush()

        def log_message(self, *args):
            pass

    with http_server(Trickling) as port:
        try:
            yield port
        finally:
            stop.set()


def timed_get(client):
    started = time.monotonic()
    response = client.get("/healthz")
    return response, time.monotonic() - started


def test_it_answers_within_its_budget_when_redis_and_mlflow_hang(staff, tmp_path):
    client = client_for(staff)
    with OwnRedis(tmp_path / "redis") as redis, trickling_http_server() as mlflow_port:
        os.kill(redis.process.pid, signal.SIGSTOP)  # accepts connections, answers nothing
        try:
            with override_settings(
                REDIS_URL=redis.url, MLFLOW_TRACKING_URI=f"http://127.0.0.1:{mlflow_port}"
            ):
                first, first_seconds = timed_get(client)
                again, again_seconds = timed_get(client)
        finally:
            os.kill(redis.process.pid, signal.SIGCONT)

    for answer in (first, again):
        assert answer.status_code == 200
        assert answer.json()["status"] == "degraded" and answer.json()["down"] == ["redis", "mlflow"]
        assert "timed out" in answer.json()["checks"]["mlflow"]["error"]
        assert "Timeout" in answer.json()["checks"]["redis"]["error"]
    # One after the other each would wait its timeout (Redis also retried): 4 s and more.
    assert first_seconds < health.BUDGET_SECONDS + 0.75, f"/healthz took {first_seconds:.1f} s"
    # A probe soon after reuses the answers (and the check still hanging): no new wait.
    assert again_seconds < 0.5, f"/healthz took {again_seconds:.1f} s the second time"
