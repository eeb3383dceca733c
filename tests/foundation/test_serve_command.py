"""`manage.py serve` on the embedded default: gunicorn plus a Celery worker and beat it starts and stops."""

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import requests

from tests.foundation.helpers import (
    ROOT,
    children_of,
    command_line,
    embedded_env,
    free_port,
    import_row,
    manage,
    migrated_with_api_user,
    processes_started_with,
    serving,
    start_import,
)
from tests.processes import wait_until


@pytest.mark.worker
def test_serve_runs_the_web_a_worker_and_beat_for_the_embedded_broker_and_stops_them(tmp_path):
    env = embedded_env(tmp_path)
    manage(env, "migrate", "--noinput")
    port = free_port()
    with serving(env, port) as (serve, banner):
        assert f"reviewapp is running at http://127.0.0.1:{port}/" in banner
        assert "a Celery worker and beat on the embedded filesystem broker" in banner

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=30) as response:
            health = json.load(response)
        assert health["checks"]["redis"]["status"] == "embedded"

        # A task sent by another process is run by the worker serve started.
        out = manage(
            env,
            "shell",
            "-c",
            "from reviewapp.celery import ping; print(ping.delay('through').get(timeout=60))",
        )
        assert out.strip().endswith("through")
        children = sorted(command_line(pid) for pid in children_of(serve.pid))
        assert len(children) == 3, children
        assert [" worker " in c for c in children].count(True) == 1, children
        assert [" beat " in c for c in children].count(True) == 1, children
        assert processes_started_with(tmp_path)
    assert serve.returncode == 0
    assert processes_started_with(tmp_path) == {}  # the children and theirs (worker pool, gunicorn's)


def worker_of(serve_pid: int) -> int | None:
    """The pid of the Celery worker `manage.py serve` started (its direct child), if one runs."""
    return next((pid for pid in children_of(serve_pid) if " worker " in command_line(pid)), None)


def answer_status(url: str) -> int:
    """The HTTP status `url` answers with; no answer at all raises."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.worker
def test_serve_starts_a_new_worker_when_its_worker_is_killed_and_the_web_keeps_answering(tmp_path):
    env = embedded_env(tmp_path / "var")
    token = migrated_with_api_user(env)
    port, log = free_port(), tmp_path / "serve.log"
    with serving(env, port, log=log) as (serve, banner):
        assert "a Celery worker and beat on the embedded filesystem broker" in banner, banner
        killed = wait_until(lambda: worker_of(serve.pid), "the worker")
        os.kill(killed, signal.SIGKILL)
        statuses = []

        def a_new_worker():
            statuses.append(answer_status(f"http://127.0.0.1:{port}/healthz"))
            pid = worker_of(serve.pid)
            return pid if pid not in (None, killed) else None

        started = wait_until(a_new_worker, "a new worker", timeout=60)

        session = requests.Session()
        url = start_import(session, port, token, [import_row(0)])["status_url"]

        def finished():
            status = session.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30).json()
            return status if status["status"] in ("succeeded", "failed") else None

        done = wait_until(finished, "the job", timeout=60)
        assert serve.poll() is None
    said = log.read_text()
    assert done["status"] == "succeeded", said[-3000:]
    assert (done["attempts"], done["result"]["imported"]) == (1, 1)
    assert started != killed
    assert statuses and set(statuses) <= {200, 503}, statuses  # the web answered all along
    assert f"The Celery worker (pid {killed}) exited with status -9; starting a new one in 1 s" in said
    assert f"Started a new Celery worker (pid {started})" in said
    assert serve.returncode == 0


@pytest.mark.worker
def test_serve_stops_its_worker_and_fails_when_the_web_server_dies(tmp_path):
    env = embedded_env(tmp_path / "var")
    manage(env, "migrate", "--noinput")
    port, log = free_port(), tmp_path / "serve.log"
    with serving(env, port, log=log) as (serve, banner):
        assert "Stop with Ctrl-C" in banner, banner
        worker = wait_until(lambda: worker_of(serve.pid), "the worker")
        web = next(pid for pid in children_of(serve.pid) if "gunicorn" in command_line(pid))
        os.kill(web, signal.SIGKILL)
        serve.wait(timeout=60)
    assert serve.returncode == 1
    assert "gunicorn exited with status -9" in log.read_text()
    assert not Path(f"/proc/{worker}").exists() or "State:\tZ" in Path(f"/proc/{worker}/status").read_text()
    assert processes_started_with(tmp_path / "var") == {}


def test_two_serves_sharing_one_static_folder_collect_their_files_in_turn(tmp_path):
    # Unlocked, runs at once into one folder deleted each other's hashed files while one was still
    # reading or chmod-ing them, and that serve stopped on a FileNotFoundError.
    static = tmp_path / "static"
    runs = [
        subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "shell",
                "-c",
                "from reviewapp.front.management.commands.serve import collect_static; collect_static()",
            ],
            cwd=ROOT,
            env=embedded_env(tmp_path / f"var{i}", STATIC_ROOT=str(static)),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        for i in range(4)
    ]
    outputs = [run.communicate(timeout=180)[0] for run in runs]
    assert [run.returncode for run in runs] == [0] * 4, "\n".join(outputs)[-3000:]
    manifest = json.loads((static / "staticfiles.json").read_text())["paths"]
    assert all((static / hashed).is_file() for hashed in manifest.values())
