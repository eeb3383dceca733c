"""The sweeps have a queue of their own, which every worker consumes without being told: a sweep
sent by beat or by `jobs.sending.send` goes there, and a worker with a backlog of jobs takes it
in turn with them, not after them; beat's sweeps live a few intervals before they expire (real
beat and worker processes on a Redis of the test's own)."""

import json
import subprocess
import sys
from datetime import datetime, timedelta

import pytest
import redis

from tests.jobs.stack import Stack
from tests.processes import ROOT, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.timeout(240)]

BACKLOG = 100

FILL = f"""
import django
django.setup()
from reviewapp.celery import ping
from reviewapp.jobs.sending import send
from reviewapp.jobs.tasks import sweep
for _ in range({BACKLOG}):
    assert send(ping, ("backlog",))
assert send(sweep)
"""


def messages(client, queue: str) -> list[dict]:
    return [json.loads(raw) for raw in client.lrange(queue, 0, -1)]


def received(log: str) -> list[str]:
    """The task names of the worker's "received" lines, in order."""
    names = []
    for line in log.splitlines():
        try:
            message = json.loads(line).get("message", "")
        except ValueError:
            message = line
        if "received" in message and "Task " in message:
            names.append(message.split("Task ", 1)[1].split("[", 1)[0])
    return names


def test_sweeps_go_to_their_own_queue_expire_late_and_are_taken_in_turn_with_a_backlog(
    transactional_db, tmp_path
):
    with Stack(tmp_path, JOB_SWEEP_SECONDS="1") as stack:
        stack.redis.start()
        client = redis.Redis.from_url(stack.redis.url)
        done = subprocess.run(
            [sys.executable, "-c", FILL], cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert (client.llen("celery"), client.llen("sweeps")) == (BACKLOG, 1)

        beat = stack.beat()
        wait_until(lambda: client.llen("sweeps") >= 3, "beat to send sweeps", timeout=60)
        sent_by_beat = messages(client, "sweeps")[0]  # the newest
        read_at = datetime.now().astimezone()
        beat.terminate()
        beat.wait(30)
        assert client.llen("celery") == BACKLOG
        assert {m["headers"]["task"] for m in messages(client, "sweeps")} == {
            "reviewapp.jobs.sweep",
            "exports.sweep_mlflow_steps",
        }
        # Four intervals, not one: a sweep outlives a moderate backlog.
        expires = datetime.fromisoformat(sent_by_beat["headers"]["expires"])
        assert read_at + timedelta(seconds=2) < expires <= read_at + timedelta(seconds=4)

        stack.worker("worker")  # no -Q: the command line of compose.yaml and `make worker`
        wait_until(
            lambda: client.llen("celery") == 0 and client.llen("sweeps") == 0,
            "the worker to empty both queues",
        )
        log = tmp_path / "worker.log"
        wait_until(lambda: len(received(log.read_text())) > BACKLOG, "the worker's log")

    order = received(log.read_text())
    first_sweep = next(i for i, name in enumerate(order) if name != "reviewapp.ping")
    # In one queue it came after the whole backlog (position 100).
    assert first_sweep < 5, order[:10]
