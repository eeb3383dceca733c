"""Every line the web (gunicorn), a Celery worker and beat write is one JSON object, and the lines
of one request carry its id, down to the worker running the job that request started.

Real processes on the test database; jobs go through a Redis of the test's own or the embedded
filesystem broker (in a folder of the test's own), so the suite's queues are not involved.
"""

import contextlib
import json
import re
import uuid
from pathlib import Path

import pytest
import requests

from reviewapp.accounts.models import ApiToken
from reviewapp.jobs.models import Job
from tests import processes
from tests.exports.helpers import reviewed
from tests.processes import (
    OwnRedis,
    celery_args,
    free_port,
    process,
    tail,
    wait_listening,
    wait_until,
    web_args,
)

GENERATED = re.compile(r"[0-9a-f]{32}")
EXPORT_TASK = "exports.export_evaluation_set"
MLFLOW_STEP_TASK = "exports.log_evaluation_set"
SWEEP_TASK = "reviewapp.feedback.tasks.sweep_mlflow_sync"


def json_lines(log: Path) -> list[dict]:
    """Each line of `log` as a JSON object; any other line fails the test."""
    lines = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            logged = json.loads(line)
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}\n--- {log.name}:\n{tail(log)}") from None
        assert isinstance(logged, dict), line
        lines.append(logged)
    return lines


def succeeded(lines: list[dict], task_name: str) -> list[dict]:
    return [
        line for line in lines if line.get("task_name") == task_name and " succeeded in " in line["message"]
    ]


def worker_args(name: str) -> list[str]:
    return celery_args(
        "worker",
        "--concurrency=1",
        "--without-gossip",
        "--without-mingle",
        f"--hostname={name}-{uuid.uuid4().hex[:6]}@%h",
    )


def send(method: str, url: str, request_id: str, **kwargs) -> requests.Response:
    # Connection: close, or the response kept by the test keeps the web's worker from stopping.
    headers = {"X-Request-ID": request_id, "Connection": "close", **kwargs.pop("headers", {})}
    return requests.request(method, url, headers=headers, timeout=60, **kwargs)


def json_env(**overrides: str | None) -> dict[str, str]:
    # No warm-up: on the run's MLflow store it would register the demo chain meanwhile, which
    # takes the web half a minute to stop and races the worker for the store's first migration.
    return processes.test_env(LOG_FORMAT="json", CHAIN_WARMUP="false", **overrides)


@contextlib.contextmanager
def broker_env(kind: str, folder: Path, **overrides: str | None):
    """The test database and JSON logs, with jobs on an own Redis or an own filesystem broker."""
    if kind == "redis":
        with OwnRedis(folder / "redis") as redis:
            yield json_env(REDIS_URL=redis.url, **overrides)
    else:
        yield json_env(REDIS_URL=None, CELERY_FS_BROKER_DIR=str(folder / "broker"), **overrides)


def test_every_line_of_the_web_is_json_and_the_lines_of_a_request_carry_its_id(transactional_db, tmp_path):
    port, log = free_port(), tmp_path / "web.log"
    base = f"http://127.0.0.1:{port}"
    sent = f"client-{uuid.uuid4().hex[:12]}"
    bad = ["x" * 65, '"},{"forged": true', "two words"]
    with process(web_args(port), json_env(), log) as web:
        wait_listening(port, web, log)
        missing = send("GET", f"{base}/no-such-page/", sent)
        replaced = [send("GET", f"{base}/healthz", value) for value in bad]
        wait_until(lambda: log.read_text().count('"gunicorn.access"') >= 4, "the access lines", timeout=30)
    lines = json_lines(log)  # gunicorn's start and stop included

    assert missing.status_code == 404 and missing.headers["X-Request-ID"] == sent
    of_request = {line["logger"]: line for line in lines if line.get("request_id") == sent}
    assert set(of_request) == {"django.request", "gunicorn.access"}, lines
    assert of_request["django.request"]["message"] == "Not Found: /no-such-page/"
    assert of_request["django.request"]["level"] == "WARNING"
    access = of_request["gunicorn.access"]
    assert (access["method"], access["path"], access["status"]) == ("GET", "/no-such-page/", 404)

    generated = [response.headers["X-Request-ID"] for response in replaced]
    assert all(GENERATED.fullmatch(value) for value in generated) and len(set(generated)) == 3
    health_ids = [line["request_id"] for line in lines if line.get("path") == "/healthz"]
    assert health_ids == generated
    assert not [line for line in lines if line.get("request_id") in bad]
    assert {line["logger"] for line in lines} >= {"gunicorn.error", "gunicorn.access", "django.request"}
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)


@pytest.mark.worker
@pytest.mark.parametrize("broker", ["redis", "filesystem"])
def test_the_worker_s_lines_for_a_job_carry_the_id_of_the_request_that_started_it(
    broker, transactional_db, app, manager, tmp_path
):
    reviewed(app, manager, "positive")
    _token, token = ApiToken.issue(user=manager, name="logs test")
    port, web_log, worker_log = free_port(), tmp_path / "web.log", tmp_path / "worker.log"
    sent = f"export-{uuid.uuid4().hex[:12]}"
    with (
        broker_env(broker, tmp_path) as env,
        process(web_args(port), env, web_log) as web,
        process(worker_args("logs"), env, worker_log) as worker,
    ):
        wait_listening(port, web, web_log)
        response = send(
            "POST",
            f"http://127.0.0.1:{port}/api/v1/apps/{app.slug}/evaluation-sets",
            sent,
            json={"name": "golden"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 202, response.text
        assert response.headers["X-Request-ID"] == sent
        job = Job.objects.get(pk=response.json()["job_id"])

        def finished():
            assert worker.poll() is None, tail(worker_log)
            lines = json_lines(worker_log)
            return succeeded(lines, EXPORT_TASK) and any(
                line.get("task_name") == MLFLOW_STEP_TASK for line in lines
            )

        # The export, then the MLflow step it sends from inside the task (which may retry later).
        wait_until(finished, "the export and its MLflow step to run", timeout=180)
        lines = json_lines(worker_log)  # before the stop: Celery prints its shutdown notice as text
        job.refresh_from_db()

    assert job.status == Job.Status.SUCCEEDED, job.error
    task_lines = [line for line in lines if line.get("task_name", "").startswith("exports.")]
    assert {line["task_name"] for line in task_lines} == {EXPORT_TASK, MLFLOW_STEP_TASK}
    assert {line["request_id"] for line in task_lines} == {sent}, task_lines
    [export_run] = succeeded(lines, EXPORT_TASK)
    assert export_run["logger"] == "celery.app.trace" and export_run["task_id"]
    assert "gunicorn.access" in [
        line["logger"] for line in json_lines(web_log) if line.get("request_id") == sent
    ]
    # Celery's multi-line banner is one line too.
    assert any("[config]" in line["message"] and "[queues]" in line["message"] for line in lines)


@pytest.mark.worker
def test_beat_logs_json_and_each_task_it_sends_runs_under_an_id_of_its_own(transactional_db, tmp_path):
    worker_log, beat_log = tmp_path / "worker.log", tmp_path / "beat.log"
    beat = celery_args("beat", f"--schedule={tmp_path / 'celerybeat-schedule'}")
    # CELERY_QUIET as in docker/.env.example: beat prints its banner before any logging otherwise.
    with (
        broker_env("filesystem", tmp_path, FEEDBACK_MLFLOW_SWEEP_SECONDS="1", CELERY_QUIET="true") as env,
        process(worker_args("beat-logs"), env, worker_log),
        process(beat, env, beat_log),
    ):
        runs = wait_until(
            lambda: (found := succeeded(json_lines(worker_log), SWEEP_TASK))[1:] and found,
            "two sweeps sent by beat",
            timeout=120,
        )
        worker_lines = json_lines(worker_log)
        beat_lines = json_lines(beat_log)

    assert any(line["message"].startswith("Scheduler: Sending due task") for line in beat_lines), beat_lines
    ids = [run["request_id"] for run in runs]
    assert all(GENERATED.fullmatch(value) for value in ids) and len(set(ids)) == len(ids)
    assert any(line["message"].endswith(" ready.") for line in worker_lines)
