"""Serve reviewapp: gunicorn for the web, plus a Celery worker and beat when there is no Redis.

gunicorn rather than runserver: runserver is a development server (single process, no
timeouts, "do not use in production"); gunicorn's threaded workers serve the same WSGI app the
Docker image runs, with static files from WhiteNoise, so `make run` behaves like a deployment.
With REDIS_URL unset, jobs go through the embedded filesystem broker under var/, and this
command starts the worker that consumes it and the periodic-task scheduler (`celery beat`), so
background jobs never run inside a web request. It collects the static files first: outside
DEBUG, pages name the hashed files of the manifest collectstatic writes.

The worker and beat are separate processes, each supervised: should one die (a crash,
SIGKILL, an "Unrecoverable error"), whatever it left of its process group is killed and a new
one is started after a pause that doubles from 1 s up to a minute; the web server keeps serving
meanwhile. Not `worker --beat`: its beat is a child of the worker that outlives a killed worker,
and the next worker's beat would then be a second one on the same schedule. Only the web
server's own exit ends the command (non-zero).

Every child runs in a session of its own, so a child's children are stopped with it (its
process group), and a Ctrl-C on the terminal reaches this command only: it stops the children
itself, giving the web server a little longer than gunicorn's graceful timeout to finish the
requests in flight. A second Ctrl-C (or SIGTERM) kills them at once.
"""

import fcntl
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from gunicorn.config import GracefulTimeout

from reviewapp import gunicorn_conf
from reviewapp.accounts.models import User
from reviewapp.celery import app as celery_app
from reviewapp.celery import make_broker_folders
from reviewapp.front import demo

log = logging.getLogger(__name__)

# Pauses before a dead worker is started again: doubling from the first to the longest, and back
# to the first once a worker has stayed up for STEADY_SECONDS.
RESTART_DELAYS = (1.0, 60.0)
STEADY_SECONDS = 60.0
# How long the children get to stop: what gunicorn gives the requests in flight, and a little
# for it to exit after them.
STOP_SECONDS = getattr(gunicorn_conf, "graceful_timeout", GracefulTimeout.default) + 5
# How long the web server gets to listen and answer its first request (its workers import every
# view as they start).
START_SECONDS = 180.0


def collect_static() -> None:
    """collectstatic, one run at a time per STATIC_ROOT: two at once (two serves on one checkout)
    delete and rewrite each other's hashed files, and one of them fails."""
    root = Path(settings.STATIC_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    folder = os.open(root, os.O_RDONLY)  # the folder's own lock: no lock file among the static files
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        call_command("collectstatic", interactive=False, verbosity=0)
    finally:
        os.close(folder)


def start_child(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    """`args` in a session (and process group) of its own, from the project's folder."""
    return subprocess.Popen(args, env=env, cwd=settings.BASE_DIR, start_new_session=True)


def exited(child: subprocess.Popen) -> bool:
    """Whether the child has exited, leaving it unreaped: until `child.wait()`, its pid (and so its
    process group's id) is nobody else's, and `kill_group` cannot reach a stranger."""
    if child.returncode is not None:
        return True
    return os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def kill_group(child: subprocess.Popen) -> None:
    """Kill the child's process group (the child and whatever it started and left), then reap it."""
    if child.returncode is None:
        with suppress(ProcessLookupError):  # nothing left of it
            os.killpg(child.pid, signal.SIGKILL)
    child.wait()


class Supervised:
    """A child process started again, after a growing pause, each time it exits."""

    def __init__(self, name: str, start: Callable[[], subprocess.Popen]):
        self.name = name
        self._start = start
        self.delay = RESTART_DELAYS[0]
        self.child = start()
        self.started_at = time.monotonic()
        self.restart_at: float | None = None

    def check(self) -> None:
        """Notice a dead child (and say so), or start the next one once its pause is over."""
        now = time.monotonic()
        if self.restart_at is None:
            if not exited(self.child):
                return
            # A killed worker leaves its pool processes: they go with it, before a new one starts.
            kill_group(self.child)
            if now - self.started_at >= STEADY_SECONDS:
                self.delay = RESTART_DELAYS[0]
            log.error(
                "The %s (pid %s) exited with status %s; starting a new one in %.0f s",
                self.name, self.child.pid, self.child.returncode, self.delay,
            )  # fmt: skip
            self.restart_at = now + self.delay
            self.delay = min(self.delay * 2, RESTART_DELAYS[1])
        elif now >= self.restart_at:
            self.child = self._start()
            self.started_at, self.restart_at = now, None
            log.warning("Started a new %s (pid %s)", self.name, self.child.pid)


class Command(BaseCommand):
    help = "Serve the app on HOST:PORT (gunicorn) and, without REDIS_URL, run a Celery worker and beat."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST") or "127.0.0.1")
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 8000))
        parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY") or 2))
        parser.add_argument("--no-worker", action="store_true", help="never start a Celery worker")

    def handle(self, *args, host, port, workers, no_worker, **options):
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ["DJANGO_SETTINGS_MODULE"]}
        supervised: list[Supervised] = []
        signals = 0

        def stop(signum=None, frame=None):
            nonlocal signals
            signals += 1

        # SIGHUP too: the children are in sessions of their own, so a closed terminal reaches only us.
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, stop)
        Path(settings.VAR_DIR).mkdir(parents=True, exist_ok=True)  # the beat schedule's folder
        # Now, not when the worker is up: /healthz reports the embedded broker down until they exist.
        make_broker_folders(celery_app.conf)
        collect_static()
        celery = [sys.executable, "-m", "celery", "-A", "reviewapp"]
        if not settings.REDIS_URL and not no_worker:
            supervised.append(Supervised("Celery worker", lambda: start_child(
                [*celery, "worker", "--loglevel=WARNING", "--concurrency=2", "--hostname=embedded@%h",
                 # The only worker on this broker: no one to sync with or hear from.
                 "--without-mingle", "--without-gossip"],
                env,
            )))  # fmt: skip
            schedule = Path(settings.VAR_DIR) / "celerybeat-schedule"
            supervised.append(Supervised("Celery beat", lambda: start_child(
                [*celery, "beat", "--loglevel=WARNING", f"--schedule={schedule}"], env,
            )))  # fmt: skip
        web = start_child(
            [sys.executable, "-m", "gunicorn", "-c", "python:reviewapp.gunicorn_conf",
             "reviewapp.wsgi:application", "--bind", f"{host}:{port}", "--workers", str(workers)],
            env,
        )  # fmt: skip
        try:
            if self._wait_until_listening(host, port, web, stopping=lambda: signals > 0):
                self._banner(host, port, worker=bool(supervised))
                while not signals and not exited(web):
                    for each in supervised:
                        each.check()
                    time.sleep(0.5)
            elif not signals:
                raise CommandError(f"The web server did not start on {host}:{port}")
        finally:
            self._stop([web, *(each.child for each in supervised)], kill_now=lambda: signals > 1)
        if not signals:  # the web server stopped on its own: whatever its status, the site is down
            raise CommandError(f"gunicorn exited with status {web.returncode}")

    def _stop(self, children: list[subprocess.Popen], kill_now: Callable[[], bool]) -> None:
        """SIGTERM each child (each stops its own children), then kill every group, the stragglers
        of those that stopped too; a child still running after STOP_SECONDS is killed."""
        for child in children:
            if not exited(child):
                os.kill(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        while not all(exited(child) for child in children):
            if kill_now() or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        for child in children:
            kill_group(child)

    def _wait_until_listening(
        self, host: str, port: int, web: subprocess.Popen, stopping: Callable[[], bool]
    ) -> bool:
        """Whether the web server listens and answered a first request; False as soon as it exits
        or `stopping()` says so."""
        target = "127.0.0.1" if host in ("0.0.0.0", "") else host.strip("[]")
        deadline = time.monotonic() + START_SECONDS
        while True:
            if stopping() or exited(web) or time.monotonic() >= deadline:
                return False
            try:
                with socket.create_connection((target, port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.25)
        # A first request, so the URL is printed once a worker answers (it has loaded the views as
        # it started: wsgi.py).
        # In a thread: a stop request must not wait for its answer.
        answered = threading.Event()

        def first_request():
            try:
                urllib.request.urlopen(f"http://{target}:{port}/healthz", timeout=120).close()
            except urllib.error.HTTPError:
                pass  # 503 (something is down) or 400 (host not allowed): the server still answers
            except OSError:
                return
            answered.set()

        request = threading.Thread(target=first_request, daemon=True)
        request.start()
        while request.is_alive():
            if stopping() or exited(web) or time.monotonic() >= deadline:
                return False
            request.join(0.25)
        return answered.is_set() or not exited(web)

    def _banner(self, host: str, port: int, *, worker: bool) -> None:
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        lines = ["", f"reviewapp is running at http://{shown}:{port}/"]
        lines.append(
            "Background jobs: a Celery worker and beat on the embedded filesystem broker (started here)"
            if worker
            else "Background jobs: Celery workers on REDIS_URL (start them with `make worker`)"
        )
        emails = [email for email, _ in demo.USERS]
        if User.objects.filter(email__in=emails).exists():
            password, from_env = demo.demo_password()
            lines.append("Sign in as (password " + ("from DEMO_PASSWORD" if from_env else "below") + "):")
            for email, level in demo.USERS:
                lines.append(f"  {email:<24} {level.label:<11} password: {password}")
        lines.append("Stop with Ctrl-C.")
        self.stdout.write("\n".join(lines) + "\n")
