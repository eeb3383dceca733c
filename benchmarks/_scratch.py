"""Helpers shared by the benchmark scripts: scratch databases and local servers."""

import http.client
import socket
import time
from urllib.parse import urlparse


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
