"""Subprocess environments, and `manage.py serve` started as a real process."""

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def overridden(env: dict[str, str], overrides: dict[str, str | None]) -> dict[str, str]:
    """`env` with `overrides` applied: a value sets the variable, None removes it."""
    return {name: value for name, value in (env | overrides).items() if value is not None}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(env: dict[str, str], port: int, *options: str) -> Iterator[tuple[subprocess.Popen, str]]:
    """`manage.py serve` on `port`, yielded with its banner once it says how to stop it.

    Stopped with SIGTERM on the way out; its exit code is then in `returncode`.
    """
    serve = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port), "--workers", "1", *options],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        banner = ""
        deadline = time.monotonic() + 120
        while "Stop with Ctrl-C" not in banner and time.monotonic() < deadline and serve.poll() is None:
            banner += serve.stdout.readline()
        yield serve, banner
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)
