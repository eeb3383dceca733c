"""Subprocess environments, and `manage.py serve` started as a real process."""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def overridden(env: dict[str, str], overrides: dict[str, str | None]) -> dict[str, str]:
    """`env` with `overrides` applied: a value sets the variable, None removes it."""
    return {name: value for name, value in (env | overrides).items() if value is not None}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def embedded_env(var_dir: Path, **overrides: str) -> dict[str, str]:
    """The embedded default (SQLite, the filesystem broker) with everything under `var_dir`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "REDIS_URL", "MLFLOW_", "CELERY_"))
    }
    env.pop("REVIEWAPP_TEST_RUN_DIR", None)
    for name in ("EXPORT_DIR", "MEDIA_ROOT", "DEMO_PASSWORD"):
        env.pop(name, None)
    # STATIC_ROOT too: serve's collectstatic then writes nothing another test's serve reads.
    env.update(
        VAR_DIR=str(var_dir), STATIC_ROOT=str(var_dir / "static"), DJANGO_SETTINGS_MODULE="reviewapp.settings"
    )
    env.update(overrides)
    return env


def manage(env: dict, *args: str, timeout: int = 180) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


# A manager of the app "bot" and an API token of theirs (printed last), in the database of `env`.
_API_USER = """
from reviewapp.accounts.models import ApiToken, User
from reviewapp.catalog.models import App, Grant, Level
user = User.objects.create_user("manager@example.com", "pw-for-tests")
app = App.objects.create(slug="bot", name="Bot")
Grant.objects.create(app=app, user=user, level=Level.CAN_MANAGE)
print(ApiToken.issue(user=user, name="tests")[1])
"""


def migrated_with_api_user(env: dict) -> str:
    """Migrate the database of `env`, add the app "bot" and its manager; the manager's API token."""
    manage(env, "migrate", "--noinput")
    return manage(env, "shell", "-c", _API_USER).strip().splitlines()[-1]


def import_row(i: int) -> dict:
    """Row `i` of a traces import: one stored turn, whose request_id says which row it came from."""
    return {"request_id": str(uuid.UUID(int=i + 1)), "request": f"Question {i}", "response": f"Answer {i}"}


def start_import(session: requests.Session, port: int, token: str, rows: list[dict]) -> dict:
    """POST the rows to the app "bot"'s import API (a job); its 202 answer."""
    response = session.post(
        f"http://127.0.0.1:{port}/api/v1/apps/bot/traces:import",
        json={"rows": rows},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert response.status_code == 202, (response.status_code, response.text[:2000])
    return response.json()


def children_of(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            found.append(int(status.parent.name))
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@contextmanager
def serving(
    env: dict[str, str], port: int, *options: str, log: Path | None = None
) -> Iterator[tuple[subprocess.Popen, str]]:
    """`manage.py serve` on `port`, yielded with its banner once it says how to stop it.

    Its output is then in `serve.stdout` (a pipe the test reads, or it fills up and the servers
    block), or, with `log`, in that file. Stopped with SIGTERM on the way out; its exit code is
    then in `returncode`.
    """
    out = log.open("ab") if log else subprocess.PIPE
    serve = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port), "--workers", "1", *options],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if log:
        out.close()
    try:
        banner = ""
        deadline = time.monotonic() + 120
        while "Stop with Ctrl-C" not in banner and time.monotonic() < deadline and serve.poll() is None:
            if log:
                time.sleep(0.1)
                banner = log.read_text(errors="replace")
            else:
                banner += serve.stdout.readline()
        yield serve, banner
    finally:
        if serve.poll() is None:
            serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)


def processes_started_with(var_dir: Path) -> dict[int, tuple[int, str]]:
    """The live processes (zombies aside) whose environment has VAR_DIR=`var_dir`, as a test's
    `manage.py serve` and everything it starts have: pid → (parent pid, command line)."""
    wanted = b"\0VAR_DIR=" + str(var_dir).encode() + b"\0"
    found = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if wanted not in b"\0" + (proc / "environ").read_bytes():
                continue
            fields = dict(
                line.split(":\t", 1) for line in (proc / "status").read_text().splitlines() if ":\t" in line
            )
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if not fields.get("State", "").startswith("Z"):
            found[int(proc.name)] = (int(fields["PPid"]), command_line(int(proc.name)))
    return found


def holding_open(pids, prefix: Path) -> set[int]:
    """Those of `pids` with a file open whose path starts with `prefix`."""
    holding = set()
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd).startswith(str(prefix)):
                    holding.add(pid)
                    break
            except OSError:
                continue
    return holding
