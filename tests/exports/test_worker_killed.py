"""Atomicity and idempotency with a real `celery worker` process killed (SIGKILL) mid-export."""

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
from tests.exports.helpers import reviewed

ROWS = 40
THROTTLE_MS = 250  # 40 rows × 0.25 s: long enough to be caught mid-way


def database_url() -> str:
    """The test database, as a DATABASE_URL a worker process can open."""
    db = settings.DATABASES["default"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgresql://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def start_worker(name: str) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": database_url()}
    celery = Path(sys.executable).with_name("celery")
    return subprocess.Popen(
        [
            str(celery),
            "-A",
            "reviewapp",
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
            "-n",
            f"{name}-{uuid.uuid4().hex[:6]}@%h",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.worker
def test_a_worker_killed_mid_export_leaves_nothing_and_the_retry_makes_exactly_one_version(
    transactional_db, app, manager
):
    for i in range(ROWS):
        reviewed(app, manager, "positive", question=f"Question {i}?")
    celery_app.control.purge()
    job = services.start_evaluation_set_export(
        app=app, user=manager, name="golden", filters=Filters(), throttle_ms=THROTTLE_MS
    )
    first = start_worker("first")
    second = None
    try:
        wait_for(
            lambda: Job.objects.filter(pk=job.pk, progress_done__gte=5).exists(),
            60,
            "the job to be under way",
        )
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)

        # Killed mid-way: half-written files in the job's private folder, no version anywhere.
        job.refresh_from_db()
        assert job.status == Job.Status.RUNNING and 0 < job.progress_done < ROWS
        assert list((settings.EXPORT_DIR / ".tmp").glob(f"{job.id}-*"))
        assert not EvaluationSetVersion.objects.exists()

        # The task is delivered again (Redis does so after its visibility timeout; here at once),
        # twice over for good measure, and another worker takes it once the dead one's claim is stale.
        export_evaluation_set_task.delay(str(job.id))
        export_evaluation_set_task.delay(str(job.id))
        second = start_worker("second")
        wait_for(
            lambda: Job.objects.filter(
                pk=job.pk, status__in=[Job.Status.SUCCEEDED, Job.Status.FAILED]
            ).exists(),
            200,
            "the retried job to finish",
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
    finally:
        for worker in (first, second):
            if worker is not None and worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                try:
                    worker.wait(20)
                except subprocess.TimeoutExpired:
                    worker.kill()
