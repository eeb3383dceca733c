"""Run manage.py in a subprocess with the environment of docker/.env.example."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

from django.conf import settings

from tests.foundation.helpers import overridden

EXAMPLE = Path(settings.BASE_DIR) / "docker" / ".env.example"


def example_environment(var_dir: Path, **overrides: str | None) -> dict[str, str]:
    """docker/.env.example read as compose reads an env_file, with a real SECRET_KEY and VAR_DIR.

    DATABASE_URL and REDIS_URL are empty there, so the embedded defaults (under var_dir) are used;
    an override of None removes the variable.
    """
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    for line in EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value
    env.update(SECRET_KEY=secrets.token_urlsafe(50), VAR_DIR=str(var_dir))
    env["DJANGO_SETTINGS_MODULE"] = "reviewapp.settings"
    return overridden(env, overrides)


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )
