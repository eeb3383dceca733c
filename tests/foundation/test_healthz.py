"""GET /healthz names what is down. 503 only when the web cannot serve (the database is down:
tests/front/test_database_down.py); with Redis or MLflow down it still serves, so 200 "degraded",
and a load balancer keeps the replica in service."""

import socket

import pytest
from django.conf import settings
from django.db.backends.postgresql.base import DatabaseWrapper
from django.test import override_settings

from reviewapp.front import health


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


@pytest.mark.django_db
def test_it_answers_200_degraded_naming_redis_when_redis_does_not_answer(client):
    with override_settings(REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0"):
        response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded" and body["down"] == ["redis"]
    assert "ConnectionError" in body["checks"]["redis"]["error"]


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


@pytest.mark.django_db
def test_it_names_mlflow_when_its_sqlite_folder_is_gone(client, tmp_path):
    with override_settings(MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path}/missing/mlflow.db"):
        response = client.get("/healthz")

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
