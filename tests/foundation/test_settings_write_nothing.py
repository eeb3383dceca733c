"""Importing settings writes nothing: the key, the folders and the static files are made by the
steps that need them (`make run`, Celery, `manage.py serve`, collectstatic)."""

import os
import re
import secrets
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.foundation.helpers import ROOT, free_port, overridden, serving
from tests.front.example_env import example_environment

KEY = secrets.token_urlsafe(50)


def fresh_env(tmp_path: Path, **overrides: str | None) -> dict[str, str]:
    """The embedded default, every local path under tmp_path (none of them made yet)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "REDIS_URL", "MLFLOW_", "CELERY_", "DEBUG", "SECRET_KEY"))
        and k not in ("EXPORT_DIR", "MEDIA_ROOT", "STATIC_ROOT", "DJANGO_ALLOW_ASYNC_UNSAFE")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="reviewapp.settings",
        VAR_DIR=str(tmp_path / "var"),
        STATIC_ROOT=str(tmp_path / "static"),
        SECRET_KEY=KEY,
    )
    return overridden(env, overrides)


def python(env: dict[str, str], *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def written(tmp_path: Path) -> list[str]:
    return sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))


def test_importing_settings_and_setting_up_django_writes_nothing(tmp_path):
    script = "import django; django.setup(); from django.conf import settings; print(settings.VAR_DIR)"
    result = python(fresh_env(tmp_path), "-c", script)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "var")
    assert written(tmp_path) == []


def test_check_writes_nothing_with_the_production_services(tmp_path):
    env = fresh_env(
        tmp_path,
        DATABASE_URL="postgresql://reviewapp@127.0.0.1:1/reviewapp",
        REDIS_URL="redis://127.0.0.1:1/0",
    )
    result = python(env, "manage.py", "check")

    assert result.returncode == 0, result.stderr
    assert written(tmp_path) == []


def test_without_a_key_start_up_stops_saying_how_to_get_one(tmp_path):
    result = python(fresh_env(tmp_path, SECRET_KEY=None), "manage.py", "check")

    assert result.returncode != 0
    assert f"SECRET_KEY is not set and {tmp_path / 'var' / 'secret_key'} is missing" in result.stderr
    assert "secrets.token_urlsafe(50)" in result.stderr
    assert "`make run` generates the file" in result.stderr
    assert written(tmp_path) == []


def test_debug_alone_starts_with_a_development_key_that_check_deploy_flags(tmp_path):
    env = fresh_env(tmp_path, SECRET_KEY=None, DEBUG="true")
    result = python(env, "manage.py", "check", "--deploy")

    assert result.returncode == 0, result.stderr
    assert "security.W009" in result.stdout + result.stderr
    assert not (tmp_path / "var" / "secret_key").exists()


def test_the_key_make_run_writes_is_made_once_and_passes_check_deploy(tmp_path):
    dry_run = subprocess.run(["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    make_key = next(line for line in dry_run.stdout.splitlines() if "secret_key" in line)
    env = {**os.environ, "VAR_DIR": str(tmp_path / "var")}
    key_file = tmp_path / "var" / "secret_key"

    subprocess.run(["sh", "-c", make_key], cwd=ROOT, env=env, check=True, timeout=60)
    key = key_file.read_text().strip()
    subprocess.run(["sh", "-c", make_key], cwd=ROOT, env=env, check=True, timeout=60)

    assert len(key) >= 50
    assert key_file.read_text().strip() == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    env = example_environment(tmp_path / "var", SECRET_KEY=None)
    result = python(env, "manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr


def test_configuring_celery_makes_the_embedded_broker_folders(tmp_path):
    script = (
        "import django; django.setup(); from pathlib import Path; from django.conf import settings; "
        "broker = Path(settings.CELERY_FS_BROKER_DIR); assert not broker.exists(); "
        "from reviewapp.celery import app; print(app.conf.broker_url)"
    )
    result = python(fresh_env(tmp_path), "-c", script)

    assert result.returncode == 0, result.stderr
    assert written(tmp_path) == [
        "var",
        "var/broker",
        "var/broker/bad",
        "var/broker/control",
        "var/broker/in",
        "var/broker/processed",
    ]


def test_the_first_migrate_on_a_fresh_machine_makes_the_embedded_database_folder(tmp_path):
    # Without the checks, nothing else (the file cache) has made VAR_DIR before SQLite connects;
    # with them, the order of Django's checks decided whether the first migrate failed.
    result = python(fresh_env(tmp_path), "manage.py", "migrate", "--noinput", "--skip-checks")

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "var" / "db.sqlite3").is_file()


def test_configuring_celery_on_redis_makes_no_folder(tmp_path):
    script = "import django; django.setup(); from reviewapp.celery import app; print(app.conf.broker_url)"
    result = python(fresh_env(tmp_path, REDIS_URL="redis://127.0.0.1:1/0"), "-c", script)

    assert result.returncode == 0, result.stderr
    assert written(tmp_path) == []


def test_static_files_use_the_hashed_compressed_storage_outside_debug(tmp_path):
    script = "import django; django.setup(); from django.conf import settings; print(settings.STORAGES)"
    production = python(fresh_env(tmp_path), "-c", script)
    debug = python(fresh_env(tmp_path, DEBUG="true"), "-c", script)

    assert "whitenoise.storage.CompressedManifestStaticFilesStorage" in production.stdout
    assert "django.contrib.staticfiles.storage.StaticFilesStorage" in debug.stdout


def test_serve_collects_the_static_files_and_serves_them_hashed(tmp_path):
    env = fresh_env(tmp_path)
    (tmp_path / "var").mkdir()
    migrated = python(env, "manage.py", "migrate", "--noinput", timeout=180)
    assert migrated.returncode == 0, migrated.stderr
    port = free_port()
    with serving(env, port, "--no-worker") as (_serve, banner):
        assert (tmp_path / "static" / "staticfiles.json").exists(), banner

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=30) as response:
            page = response.read().decode()
        stylesheet = re.search(r'href="(/static/css/app\.[0-9a-f]{12}\.css)"', page)
        assert stylesheet, page[:2000]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{stylesheet[1]}", timeout=30) as response:
            assert response.status == 200
            assert "immutable" in response.headers["Cache-Control"]


def test_an_sqlite_database_url_locks_as_the_embedded_default_does(tmp_path):
    # Without these, a transaction that read first failed at once with "database is locked" when
    # it came to write while a worker held the lock.
    show = "from django.conf import settings; print(settings.DATABASES['default']['OPTIONS'])"
    default = python(fresh_env(tmp_path), "-c", f"import django; django.setup(); {show}")
    named = python(
        fresh_env(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'elsewhere.sqlite3'}"),
        "-c",
        f"import django; django.setup(); {show}",
    )

    assert default.returncode == 0 and named.returncode == 0, default.stderr + named.stderr
    assert "'transaction_mode': 'IMMEDIATE'" in named.stdout and "journal_mode=WAL" in named.stdout
    assert named.stdout == default.stdout
