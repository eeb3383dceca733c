"""A send to a broker that is down, or that accepts connections but never answers, fails within
TASK_SEND_TIMEOUT_SECONDS and raises nothing (Celery's own `delay` blocked 19 s on the first and
for good on the second). In a process of its own, whose broker is that Redis."""

import json
import socket
import subprocess
import sys

import pytest

from tests.processes import ROOT, OwnRedis
from tests.processes import test_env as env_for

pytestmark = pytest.mark.timeout(120)

TIMEOUT = 1  # TASK_SEND_TIMEOUT_SECONDS

SENDS = """
import json, time, django
django.setup()
from reviewapp.celery import ping
from reviewapp.jobs.sending import send
results = []
for _ in range(3):
    started = time.monotonic()
    sent = send(ping, ("hello",))
    results.append([sent, time.monotonic() - started])
print(json.dumps(results))
"""


def sends_to(url: str) -> list[tuple[bool, float]]:
    """Three sends from a process whose broker is `url`: (sent, seconds) of each."""
    env = env_for(REDIS_URL=url, TASK_SEND_TIMEOUT_SECONDS=str(TIMEOUT))
    done = subprocess.run(
        [sys.executable, "-c", SENDS], cwd=ROOT, env=env, capture_output=True, text=True, timeout=100
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return [tuple(result) for result in json.loads(done.stdout.strip().splitlines()[-1])]


def test_a_send_to_a_stopped_broker_fails_at_once_without_raising(tmp_path):
    redis = OwnRedis(tmp_path)
    redis.start().stop()

    results = sends_to(redis.url)

    assert [sent for sent, _ in results] == [False] * 3
    assert max(seconds for _, seconds in results) < TIMEOUT + 1


def test_a_send_to_a_broker_that_never_answers_gives_up_within_the_timeout(tmp_path):
    # A socket that listens but never accepts: the first connection is made by the kernel and never
    # answered, the next ones are never made.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(0)

        results = sends_to(f"redis://127.0.0.1:{silent.getsockname()[1]}/0")

    assert [sent for sent, _ in results] == [False] * 3
    assert max(seconds for _, seconds in results) < 2 * TIMEOUT + 1


def test_a_send_to_a_broker_that_answers_reaches_its_queue(tmp_path):
    import redis as redis_client

    with OwnRedis(tmp_path) as redis:
        results = sends_to(redis.url)
        assert [sent for sent, _ in results] == [True] * 3
        assert redis_client.Redis.from_url(redis.url).llen("celery") == 3
