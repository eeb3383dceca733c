"""Serve reviewapp: gunicorn for the web, plus a Celery worker when there is no Redis.

gunicorn rather than runserver: runserver is a development server (single process, no
timeouts, "do not use in production"); gunicorn's threaded workers serve the same WSGI app the
Docker image runs, with static files from WhiteNoise, so `make run` behaves like a deployment.
With REDIS_URL unset, jobs go through the embedded filesystem broker under var/, and this
command starts the worker that consumes it (with the periodic-task scheduler, `--beat`), so
background jobs never run inside a web request. It collects the static files first: outside
DEBUG, pages name the hashed files of the manifest collectstatic writes.

The worker is supervised: should it die (a crash, SIGKILL, an "Unrecoverable error"), it is
started again after a pause that doubles from 1 s up to a minute, and the web server keeps
serving meanwhile. Only the web server's own exit ends the command (non-zero).
"""

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from reviewapp.accounts.models import User
from reviewapp.celery import app as celery_app
from reviewapp.celery import make_broker_folders
from reviewapp.front import demo

log = logging.getLogger(__name__)

# Pauses before a dead worker is started again: doubling from the first to the longest, and back
# to the first once a worker has stayed up for STEADY_SECONDS.
RESTART_DELAYS = (1.0, 60.0)
STEADY_SECONDS = 60.0


class Supervised:
    """A child process started again, after a growing pause, each time it exits."""

    def __init__(self, name: str, start):
        self.name = name
        self._start = start
        self.delay = RESTART_DELAYS[0]
        self.child: subprocess.Popen = start()
        self.started_at = time.monotonic()
        self.restart_at: float | None = None

    def check(self) -> None:
        """Notice a dead child (and say so), or start the next one once its pause is over."""
        now = time.monotonic()
        if self.restart_at is None:
            if self.child.poll() is None:
                return
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
    help = "Serve the app on HOST:PORT (gunicorn) and, without REDIS_URL, run a Celery worker."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST") or "127.0.0.1")
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 8000))
        parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY") or 2))
        parser.add_argument("--no-worker", action="store_true", help="never start a Celery worker")

    def handle(self, *args, host, port, workers, no_worker, **options):
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ["DJANGO_SETTINGS_MODULE"]}
        worker: Supervised | None = None
        stopping = False

        def stop(signum=None, frame=None):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        Path(settings.VAR_DIR).mkdir(parents=True, exist_ok=True)  # the beat schedule's folder
        # Now, not when the worker is up: /healthz reports the embedded broker down until they exist.
        make_broker_folders(celery_app.conf)
        call_command("collectstatic", interactive=False, verbosity=0)
        if not settings.REDIS_URL and not no_worker:
            worker = Supervised(
                "Celery worker",
                lambda: subprocess.Popen(
                    [sys.executable, "-m", "celery", "-A", "reviewapp", "worker",
                     "--loglevel=WARNING", "--concurrency=2", "--hostname=embedded@%h",
                     # The only worker on this broker: no one to sync with or hear from.
                     "--without-mingle", "--without-gossip",
                     "--beat", f"--schedule={Path(settings.VAR_DIR) / 'celerybeat-schedule'}"],
                    env=env, cwd=settings.BASE_DIR,
                ),
            )  # fmt: skip
        web = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:reviewapp.gunicorn_conf",
             "reviewapp.wsgi:application", "--bind", f"{host}:{port}", "--workers", str(workers)],
            env=env, cwd=settings.BASE_DIR,
        )  # fmt: skip
        try:
            if not self._wait_until_listening(host, port, web):
                raise CommandError(f"The web server did not start on {host}:{port}")
            self._banner(host, port, worker=worker is not None)
            while not stopping and web.poll() is None:
                if worker is not None:
                    worker.check()
                time.sleep(0.5)
        finally:
            children = [web] if worker is None else [web, worker.child]
            for child in children:
                if child.poll() is None:
                    child.terminate()
            for child in children:
                try:
                    child.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
        if not stopping:  # the web server stopped on its own: whatever its status, the site is down
            raise CommandError(f"gunicorn exited with status {web.returncode}")

    def _wait_until_listening(self, host: str, port: int, web: subprocess.Popen) -> bool:
        target = "127.0.0.1" if host in ("0.0.0.0", "") else host.strip("[]")
        for _ in range(240):
            if web.poll() is not None:
                return False
            try:
                with socket.create_connection((target, port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.25)
        else:
            return False
        # The first request imports every view; make it now, so the printed URL answers at once.
        try:
            urllib.request.urlopen(f"http://{target}:{port}/healthz", timeout=120).close()
        except urllib.error.HTTPError:
            pass  # 503 (something is down) or 400 (host not allowed): the server still answers
        except OSError:
            return web.poll() is None
        return True

    def _banner(self, host: str, port: int, *, worker: bool) -> None:
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        lines = ["", f"reviewapp is running at http://{shown}:{port}/"]
        lines.append(
            "Background jobs: a Celery worker on the embedded filesystem broker (started here)"
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
