"""Atomicity and idempotency with a real `celery worker` process killed (SIGKILL) mid-export.

The export is simply large enough to take a few seconds, so the worker is caught mid-way.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from reviewapp.celery import app as celery_app
from reviewapp.exports import services
from reviewapp.exports.models import EvaluationSetVersion
from reviewapp.exports.selection import Filters
from reviewapp.exports.tasks import export_evaluation_set_task
from reviewapp.jobs.models import Job
from tests.exports.helpers import reviewed_many, wait_until

ROWS = 30_000  # a few seconds of work; the worker is killed after its first progress report


def database_url() -> str:
    """The test database, as a DATABASE_URL a worker process can open."""
    db = settings.DATABASES["default"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgresql://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def start_worker(name: str, log: Path) -> subprocess.Popen:
    """A `celery worker` process on the test database, logging at INFO into `log`."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": database_url()}
    celery = Path(sys.executable).with_name("celery")
    with log.open("w") as stderr:
        return subprocess.Popen(
            [
                str(celery),
                "-A",
                "reviewapp",
                "worker",
                "--pool=solo",
                "--loglevel=INFO",
                "-n",
                f"{name}-{uuid.uuid4().hex[:6]}@%h",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


@pytest.mark.worker
def test_a_worker_killed_mid_export_leaves_nothing_and_the_retry_makes_exactly_one_version(
    transactional_db, app, manager, tmp_path
):
    reviewed_many(app, manager, ROWS)
    celery_app.control.purge()
    job = services.start_evaluation_set_export(app=app, user=manager, name="golden", filters=Filters())
    first = start_worker("first", tmp_path / "first-worker.log")
    second = None
    try:
        wait_until(
            lambda: Job.objects.filter(pk=job.pk, progress_done__gt=0).exists(),
            "the job to be under way",
            timeout=120,
            every=0.05,
        )
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)

        # Killed mid-way: half-written files in the job's private folder, no version anywhere.
        job.refresh_from_db()
        assert job.status == Job.Status.RUNNING and 0 < job.progress_done < ROWS
        assert list((settings.EXPORT_DIR / ".tmp").glob(f"{job.id}-*"))
        assert not EvaluationSetVersion.objects.exists()

        # The task is delivered again (Redis does so after its visibility timeout; here at once),
        # twice over for good measure, and another worker takes it once the dead one's lease is over.
        export_evaluation_set_task.delay(str(job.id))
        export_evaluation_set_task.delay(str(job.id))
        second_log = tmp_path / "second-worker.log"
        second = start_worker("second", second_log)
        wait_until(
            lambda: Job.objects.filter(
                pk=job.pk, status__in=[Job.Status.SUCCEEDED, Job.Status.FAILED]
            ).exists(),
            "the retried job to finish",
            timeout=200,
        )
        time.sleep(2)  # let the duplicate delivery run too
        job.refresh_from_db()
        assert job.status == Job.Status.SUCCEEDED, job.error
        assert job.attempts == 2
        [version] = EvaluationSetVersion.objects.all()
        assert version.job_id == job.pk and version.number == 1 and version.row_count == ROWS
        lines = (version.directory / "evaluation_set.jsonl").read_text().splitlines()
        assert len(lines) == ROWS
        assert not list((settings.EXPORT_DIR / ".tmp").glob(f"{job.id}-*"))
        # Waiting for the dead worker's lease is routine: INFO retries, not errors.
        log = second_log.read_text()
        assert "held by another worker" in log and "ERROR" not in log, log
    finally:
        for worker in (first, second):
            if worker is not None and worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                try:
                    worker.wait(20)
                except subprocess.TimeoutExpired:
                    worker.kill()
