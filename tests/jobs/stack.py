"""The production shape of a test's own: gunicorn, Celery workers and beat on a Redis of the test's
own (tests.processes.OwnRedis) and the test database, which the test stops, kills and starts."""

import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import requests

from reviewapp.accounts.models import ApiToken
from tests.processes import (
    OwnRedis,
    celery_args,
    free_port,
    process,
    tail,
    test_env,
    wait_serving,
    wait_until,
    web_args,
)


class Stack:
    def __init__(self, folder: Path, **env: str):
        self.folder = Path(folder)
        self.redis = OwnRedis(self.folder / "redis")
        self.env = test_env(REDIS_URL=self.redis.url, **env)
        self.url = ""
        self._processes = ExitStack()

    def __enter__(self) -> "Stack":
        return self

    def __exit__(self, *exc) -> None:
        self._processes.close()
        self.redis.stop(kill=True)

    def web(self) -> str:
        """gunicorn with the production configuration; its base URL."""
        port = free_port()
        log = self.folder / "web.log"
        child = self._processes.enter_context(process(web_args(port), self.env, log))
        wait_serving(port, child, log)
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    def worker(self, name: str, pool: str = "solo"):
        """A `celery worker` once it takes tasks: one process by default, so SIGKILL stops the task it
        runs; `pool="prefork"` is production's pool (one child)."""
        log = self.folder / f"{name}.log"
        args = celery_args(
            "worker", f"--pool={pool}", "--concurrency=1", "-n", f"{name}-{uuid.uuid4().hex[:6]}@%h"
        )
        child = self._processes.enter_context(
            process(args + ["--without-gossip", "--without-mingle"], self.env, log)
        )

        def ready():
            assert child.poll() is None, f"the worker exited ({child.returncode}):\n{tail(log)}"
            return " ready." in log.read_text()  # the whole log: a busy worker soon logs past it

        wait_until(ready, f"worker {name} to be ready", timeout=120)
        return child

    def beat(self):
        log = self.folder / "beat.log"
        args = celery_args("beat", f"--schedule={self.folder / 'beat-schedule'}")
        return self._processes.enter_context(process(args, self.env, log))

    def log(self, name: str) -> str:
        return tail(self.folder / f"{name}.log", 20_000)


def token_for(user) -> str:
    _token, raw = ApiToken.issue(user=user, name="jobs test")
    return raw


def start_export(stack: Stack, token: str, app, name: str) -> tuple[requests.Response, float]:
    """POST an evaluation-set export over the API; the answer and the seconds it took."""
    started = time.monotonic()
    answer = requests.post(
        f"{stack.url}/api/v1/apps/{app.slug}/evaluation-sets",
        json={"name": name},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    return answer, time.monotonic() - started
