"""Real processes for fault tests: a Redis of the test's own, the production web/worker/beat
command lines, a TCP proxy that can cut a connection, and the test database as a URL.

Each starts a process the test stops (context managers), logging into a file of the test's
`tmp_path`, so a failure can show what the process said.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check, what: str = "it", timeout: float = 90, every: float = 0.2):
    """The first true value of `check()`, polled every `every` seconds for up to `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def database_url() -> str:
    """The test database, as a DATABASE_URL another process can open."""
    from django.conf import settings
    from django.db import connection

    db = settings.DATABASES["default"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return (
        f"postgresql://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )


def tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return f"({path} cannot be read)"


class OwnRedis:
    """A redis-server of the test's own on a free loopback port, which the test stops and starts.

    Nothing is kept on disk unless `persist` (then an append-only file in `folder`), so a restart
    without it loses every message, as a Redis without persistence does.
    """

    def __init__(self, folder: Path, *, persist: bool = False):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.persist = persist
        self.process: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "OwnRedis":
        server = shutil.which("redis-server")
        assert server, "redis-server is missing: `make test` installs it (Debian's redis-server)"
        keep = ["--appendonly", "yes", "--appendfsync", "always"] if self.persist else ["--appendonly", "no"]
        log = (self.folder / "redis.log").open("a")
        self.process = subprocess.Popen(
            [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", *keep]
            + ["--dir", str(self.folder), "--protected-mode", "no"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        wait_until(self.answers, f"redis-server on port {self.port}", timeout=20, every=0.05)
        return self

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server (SIGKILL when `kill`: nothing flushed); the port stays this server's."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            self.process.wait(20)
        self.process = None

    def __enter__(self) -> "OwnRedis":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop(kill=True)


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `target`; `cut()` drops every connection and refuses new
    ones (the server seems down to the app), `restore()` lets them through again. `hold()` keeps
    the connections open but passes nothing on (a network that stalls) until `release()`;
    `held` counts the messages kept back meanwhile."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.port = free_port()
        self._open = threading.Event()
        self._open.set()
        self._flowing = threading.Event()
        self._flowing.set()
        self.held = 0
        self._stop = threading.Event()
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "TcpProxy":
        self._listen()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._flowing.set()
        self._close_listener()
        self._drop_all()

    def hold(self) -> None:
        self.held = 0
        self._flowing.clear()

    def release(self) -> None:
        self._flowing.set()

    def cut(self) -> None:
        self._open.clear()
        self._close_listener()  # new connections are refused, as by a server that is down
        self._drop_all()

    def restore(self) -> None:
        self._open.set()
        self._listen()

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._thread.start()

    def _close_listener(self) -> None:
        if self._listener is not None:
            with suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None

    def _drop_all(self) -> None:
        with self._lock:
            for conn in list(self._connections):
                with suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self._connections.clear()

    def _accept(self, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if not self._open.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._connections.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if not self._flowing.is_set():
                    with self._lock:
                        self.held += 1
                    self._flowing.wait()
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for conn in (source, sink):
                with suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)


def test_env(**overrides: str | None) -> dict[str, str]:
    """This test process's environment for a child process on the test database; a None value
    removes the variable."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": database_url()}
    env.update(overrides)
    return {name: value for name, value in env.items() if value is not None}


@contextmanager
def process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """`args` run from the project root, stdout and stderr into `log`; SIGTERM (then SIGKILL) on exit."""
    with log.open("a") as out:
        child = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield child
    finally:
        stop(child)


def stop(child: subprocess.Popen, timeout: float = 30) -> None:
    if child.poll() is None:
        os.killpg(child.pid, signal.SIGTERM)
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(10)


def celery_args(kind: str, *extra: str) -> list[str]:
    """`celery -A reviewapp worker|beat` from this virtualenv."""
    return [str(BIN / "celery"), "-A", "reviewapp", kind, "--loglevel=INFO", *extra]


def web_args(port: int, workers: int = 1) -> list[str]:
    """gunicorn with the configuration the Docker image and `manage.py serve` use."""
    return [str(BIN / "gunicorn"), "-c", "python:reviewapp.gunicorn_conf", "reviewapp.wsgi:application"] + [
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
    ]


def wait_listening(port: int, child: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    def up():
        assert child.poll() is None, f"the process exited ({child.returncode}):\n{tail(log)}"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    wait_until(up, f"a server on port {port}", timeout=timeout, every=0.1)


def wait_serving(port: int, child: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    """Until the web server answers a page: its worker has loaded the app, so what a test times
    next is the request, not gunicorn booting its worker and importing Django."""
    import urllib.error
    import urllib.request

    wait_listening(port, child, log, timeout)

    def answers():
        assert child.poll() is None, f"the process exited ({child.returncode}):\n{tail(log)}"
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=30).close()
        except urllib.error.HTTPError:
            pass  # an answer all the same
        except OSError:
            return False
        return True

    wait_until(answers, f"the web server on port {port} to answer", timeout=timeout, every=0.2)


class S3Server:
    """An S3-compatible server (moto's `moto_server`) on a free loopback port, with one bucket.

    `env()` is the environment that points reviewapp's exports and uploads at the bucket
    (reviewapp.lib.files); `keys()` lists what the bucket holds.
    """

    def __init__(self, folder: Path, bucket: str = "reviewapp-test", prefix: str = "reviewapp"):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.bucket, self.prefix = bucket, prefix
        self._process = None
        self._stack = None

    def env(self) -> dict[str, str]:
        return {
            "S3_BUCKET": self.bucket,
            "S3_ENDPOINT_URL": self.url,
            "S3_REGION": "us-east-1",
            "S3_PREFIX": self.prefix,
            "AWS_ACCESS_KEY_ID": "test-key-id",
            "AWS_SECRET_ACCESS_KEY": "test-secret",
        }

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="test-key-id",
            aws_secret_access_key="test-secret",
        )

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", ()))

    def read(self, key: str) -> bytes:
        return self.client().get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def use_here(self, settings, monkeypatch) -> None:
        """Point this process's exports and uploads at the bucket, as the settings do with these
        variables (`settings` and `monkeypatch` are the pytest fixtures, which undo it)."""
        from reviewapp.lib.files import file_storages

        for name, value in self.env().items():
            monkeypatch.setenv(name, value)
        settings.STORAGES = {**settings.STORAGES, **file_storages(settings.EXPORT_DIR, settings.MEDIA_ROOT)}

    def start(self) -> "S3Server":
        from contextlib import ExitStack

        self._stack = ExitStack()
        log = self.folder / "moto.log"
        args = [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)]
        self._process = self._stack.enter_context(process(args, dict(os.environ), log))
        wait_listening(self.port, self._process, log, timeout=60)
        self.client().create_bucket(Bucket=self.bucket)
        return self

    def stop(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None

    def __enter__(self) -> "S3Server":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
