"""Helpers shared by the benchmark scripts: scratch databases and local servers."""

import http.client
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
# Settings only read a key (`make run` writes one): each benchmark run signs with a throwaway one.
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))


def recreate_database(url: str, drop_only: bool = False) -> None:
    """Drop the PostgreSQL database named in `url` and (unless drop_only) create it empty."""
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


def flush_redis(url: str) -> None:
    """Empty the Redis database named in `url` (a benchmark's own: throttle counts, queued tasks)."""
    import redis

    redis.Redis.from_url(url).flushdb()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(port: int, timeout: float = 240, path: str = "/api/schema/") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"nothing answered on port {port} within {timeout} s")


def start_gunicorn(port: int, env: dict, *options: str) -> subprocess.Popen:
    """gunicorn serving the project on loopback, the project imported once before forking workers."""
    command = [str(Path(sys.executable).parent / "gunicorn"), "reviewapp.wsgi:application"]
    command += [*options, "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "--timeout", "120"]
    return subprocess.Popen([*command, "--preload"], cwd=ROOT, env=env)


def python_step_ns() -> float:
    """This machine's speed at plain Python, in ns per step of a fixed loop (the best of three):
    the machines these scripts run on differ by two or three times in it, and every figure here
    moves with it, so compare figures only beside this one."""
    best = float("inf")
    for _ in range(3):
        started, total = time.perf_counter(), 0
        for i in range(2_000_000):
            total += i
        best = min(best, time.perf_counter() - started)
    return best / 2_000_000 * 1e9


def pct(values: list[float], p: float) -> float:
    """The p-th percentile of latencies in seconds, in milliseconds (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000


def tear_down(server, url: str | None, keep: bool) -> None:
    """Stop the server process, close Django's connections and drop the scratch database."""
    if server is not None:
        server.terminate()
        server.wait(timeout=30)
    try:
        from django.db import connections

        connections.close_all()
    except Exception:  # noqa: BLE001 - Django may not be set up if seeding failed
        pass
    if url and not keep:
        recreate_database(url, drop_only=True)
