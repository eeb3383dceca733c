"""`manage.py serve` on the embedded default: gunicorn plus a Celery worker it starts and stops."""

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.foundation.helpers import ROOT, free_port, serving


def embedded_env(var_dir: Path) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "REDIS_URL", "MLFLOW_", "CELERY_"))
    }
    env.pop("REVIEWAPP_TEST_RUN_DIR", None)
    for name in ("EXPORT_DIR", "MEDIA_ROOT", "DEMO_PASSWORD"):
        env.pop(name, None)
    env.update(VAR_DIR=str(var_dir), DJANGO_SETTINGS_MODULE="reviewapp.settings")
    return env


def manage(env: dict, *args: str, timeout: int = 180) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def children_of(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            found.append(int(status.parent.name))
    return found


@pytest.mark.worker
def test_serve_runs_the_web_and_a_worker_for_the_embedded_broker_and_stops_both(tmp_path):
    env = embedded_env(tmp_path)
    manage(env, "migrate", "--noinput")
    port = free_port()
    with serving(env, port) as (serve, banner):
        assert f"reviewapp is running at http://127.0.0.1:{port}/" in banner
        assert "a Celery worker on the embedded filesystem broker" in banner

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
        children = children_of(serve.pid)
        assert len(children) == 2
    assert serve.returncode == 0
    for pid in children:
        assert not Path(f"/proc/{pid}").exists() or "State:\tZ" in Path(f"/proc/{pid}/status").read_text()
