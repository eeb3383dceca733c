"""1,000 jobs started at once on the embedded default (SQLite, the filesystem broker, `manage.py
serve`): each runs exactly once. Under such a load kombu's own filesystem transport let the worker
read half-written messages and stop ("Unrecoverable error"), and serve then stopped the web."""

import json
import sqlite3
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.foundation.helpers import (
    embedded_env,
    free_port,
    import_row,
    migrated_with_api_user,
    serving,
    start_import,
)
from tests.processes import tail, wait_until

JOBS = 1000
CLIENTS = 64  # threads posting at once


@pytest.mark.worker
@pytest.mark.timeout(600)
def test_a_thousand_imports_started_at_once_on_the_embedded_default_each_run_once(tmp_path):
    var = tmp_path / "var"
    env = embedded_env(var, API_THROTTLE_IMPORTS="off", API_THROTTLE_USER="off")
    token = migrated_with_api_user(env)
    port, log = free_port(), tmp_path / "serve.log"
    sessions = threading.local()

    def start(i: int) -> str:
        if not hasattr(sessions, "session"):
            sessions.session = requests.Session()
        return start_import(sessions.session, port, token, [import_row(i)])["job_id"]

    def jobs() -> dict[str, tuple]:
        with sqlite3.connect(f"file:{var / 'db.sqlite3'}?mode=ro", uri=True, timeout=30) as db:
            rows = db.execute("SELECT id, status, attempts, result FROM jobs_job").fetchall()
        return {uuid.UUID(id).hex: (status, attempts, result) for id, status, attempts, result in rows}

    def all_finished():
        found = jobs()
        return len(found) == JOBS and all(
            status in ("succeeded", "failed") for status, _, _ in found.values()
        )

    with serving(env, port, "--workers", "2", log=log) as (serve, banner):
        assert "Stop with Ctrl-C" in banner, banner
        began = time.monotonic()
        with ThreadPoolExecutor(CLIENTS) as pool:
            started = list(pool.map(start, range(JOBS)))
        accepted = time.monotonic() - began
        wait_until(all_finished, "every job to finish", timeout=900, every=1)
        finished = time.monotonic() - began
        assert serve.poll() is None, tail(log)
    print(f"{JOBS} imports: accepted in {accepted:.1f} s, all run in {finished:.1f} s")

    found = jobs()
    assert sorted(found) == sorted(uuid.UUID(id).hex for id in started)
    not_once = {
        id: (status, attempts)
        for id, (status, attempts, _) in found.items()
        if (status, attempts) != ("succeeded", 1)
    }
    assert not_once == {}, tail(log)
    assert all(json.loads(result)["imported"] == 1 for _, _, result in found.values())
    with sqlite3.connect(f"file:{var / 'db.sqlite3'}?mode=ro", uri=True) as db:
        stored = {row[0] for row in db.execute("SELECT request_id FROM requestlog_request")}
    assert stored == {uuid.UUID(import_row(i)["request_id"]).hex for i in range(JOBS)}
    said = log.read_text()
    assert "Unrecoverable error" not in said
    assert "exited with status" not in said  # the worker never died
    assert not (var / "broker" / "bad").exists() or list((var / "broker" / "bad").iterdir()) == []
