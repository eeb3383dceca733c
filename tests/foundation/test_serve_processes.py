"""`manage.py serve`'s children: one worker and one beat whatever is killed, none left behind, and
a stop that neither cuts the requests in flight nor waits for a web server that is starting."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.foundation.helpers import (
    ROOT,
    embedded_env,
    free_port,
    holding_open,
    import_row,
    manage,
    migrated_with_api_user,
    processes_started_with,
    serving,
)
from tests.processes import tail, wait_until


def celery_of(var_dir: Path) -> tuple[set[int], set[int]]:
    """The Celery processes of the serve run on `var_dir`: the beats (each process that has the beat
    schedule open) and the workers' main processes (each of a tree of its own)."""
    running = processes_started_with(var_dir)
    beats = holding_open(running, var_dir / "celerybeat-schedule")
    workers = {pid for pid, (_, line) in running.items() if " worker " in line and pid not in beats}
    return beats, {pid for pid in workers if running[pid][0] not in workers}


def ping_through(env: dict) -> str:
    """A task sent by another process, as run by a worker."""
    code = "from reviewapp.celery import ping; print(ping.delay('through').get(timeout=60))"
    return manage(env, "shell", "-c", code).strip().splitlines()[-1]


@pytest.mark.worker
def test_serve_keeps_one_worker_and_one_beat_when_either_is_killed_and_leaves_none_behind(tmp_path):
    # `celery worker --beat` ran beat as the worker's child: a SIGKILLed worker left it running, and
    # the next worker started a second one (every periodic task twice), which outlived serve too.
    var = tmp_path / "var"
    env = embedded_env(var)
    manage(env, "migrate", "--noinput")
    port, log = free_port(), tmp_path / "serve.log"
    with serving(env, port, log=log) as (serve, banner):
        assert "Stop with Ctrl-C" in banner, banner

        def one_each(besides: set[int] = frozenset()):
            beats, workers = celery_of(var)
            if len(beats) == len(workers) == 1 and not (beats | workers) & besides:
                return beats.pop(), workers.pop()
            return None

        beat, worker = wait_until(one_each, "a worker and a beat", timeout=60)
        os.kill(worker, signal.SIGKILL)
        # The one serve says it started: until serve has killed the dead worker's group, its
        # orphaned pool processes look like another worker.
        new_worker = int(
            wait_until(
                lambda: re.search(r"Started a new Celery worker \(pid (\d+)\)", log.read_text()),
                "a new worker",
                timeout=60,
            )[1]
        )
        new_beat, _ = wait_until(
            lambda: one_each({worker}) if one_each({worker}) == (beat, new_worker) else None,
            "the new worker alone",
            timeout=60,
        )
        assert ping_through(env) == "through"  # the new worker is up, and so would be a beat it started
        assert celery_of(var) == ({beat}, {new_worker}), tail(log)

        os.kill(beat, signal.SIGKILL)
        newer_beat, _ = wait_until(lambda: one_each({beat}), "a new beat", timeout=60)
        assert ping_through(env) == "through"
        assert celery_of(var) == ({newer_beat}, {new_worker}), tail(log)
        assert new_beat == beat
    assert serve.returncode == 0
    assert processes_started_with(var) == {}, tail(log)
    said = log.read_text()
    assert f"The Celery worker (pid {worker}) exited with status -9; starting a new one in 1 s" in said
    assert f"The Celery beat (pid {beat}) exited with status -9; starting a new one in 1 s" in said


@pytest.mark.worker
def test_serve_lets_a_request_in_flight_finish_when_it_is_stopped(tmp_path):
    # gunicorn gives requests in flight 30 s (its graceful timeout) on SIGTERM; serve must not kill
    # it sooner. The request here is an import whose body arrives 22 s after the stop.
    var = tmp_path / "var"
    env = embedded_env(var)
    token = migrated_with_api_user(env)
    body = json.dumps({"rows": [import_row(0)]}).encode()
    port, log = free_port(), tmp_path / "serve.log"
    with serving(env, port, log=log) as (serve, banner):
        assert "Stop with Ctrl-C" in banner, banner
        with socket.create_connection(("127.0.0.1", port), timeout=60) as client:
            client.sendall(
                b"POST /api/v1/apps/bot/traces:import HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n".encode()
                + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body[:10]
            )
            time.sleep(2)  # the view is reading the body
            serve.send_signal(signal.SIGTERM)
            time.sleep(22)
            assert serve.poll() is None, tail(log)  # still waiting for the web server
            client.sendall(body[10:])
            answer = b""
            while chunk := client.recv(65536):
                answer += chunk
        serve.wait(timeout=60)
    assert answer.startswith(b"HTTP/1.1 202 "), (answer[:300], tail(log))
    assert serve.returncode == 0
    assert processes_started_with(var) == {}, tail(log)


def accept_while_running(listening: socket.socket, serve: subprocess.Popen, log: Path) -> socket.socket:
    """The next connection to `listening` (whose timeout is short), failing with serve's log as soon
    as serve has exited rather than after the whole wait."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert serve.poll() is None, tail(log)
        try:
            return listening.accept()[0]
        except TimeoutError:
            continue
    raise AssertionError(f"serve never connected\n{tail(log)}")


@pytest.mark.worker
def test_serve_stops_at_once_when_asked_to_while_the_web_server_starts(tmp_path):
    # Something else already listens on the port and never answers, so serve waits for the first
    # answer of its web server (120 s at most), as it does while a slow one starts.
    env = embedded_env(tmp_path / "var")
    log = tmp_path / "serve.log"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(8)
        taken.settimeout(1)
        port = taken.getsockname()[1]
        with log.open("ab") as out:
            serve = subprocess.Popen(
                [sys.executable, "manage.py", "serve", "--port", str(port), "--workers", "1"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            accept_while_running(taken, serve, log).close()  # serve's check that something listens
            first_request = accept_while_running(taken, serve, log)
            with first_request:
                serve.send_signal(signal.SIGTERM)
                stopped_at = time.monotonic()
                serve.wait(timeout=20)  # it waited up to 120 s
                waited = time.monotonic() - stopped_at
        finally:
            if serve.poll() is None:
                serve.kill()
                serve.wait()
    assert serve.returncode == 0, tail(log)
    assert waited < 15, waited
    assert "did not start" not in log.read_text()
    assert processes_started_with(tmp_path / "var") == {}, tail(log)
