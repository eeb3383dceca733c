"""A real `celery worker` process killed (SIGKILL) mid-export: nothing half-done is published, and
another worker takes the job over once the dead one's heartbeat has stopped, through the jobs sweep
(no message sent by hand), within the lease and a sweep; exactly one version.

The export is simply large enough to take a few seconds, so the worker is caught mid-way.
"""

import os
import signal
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from reviewapp.exports.models import EvaluationSetVersion
from reviewapp.jobs.models import Job
from tests.exports.helpers import reviewed_many
from tests.jobs.stack import Stack, start_export, token_for
from tests.processes import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.timeout(300)]

ROWS = 30_000  # a few seconds of work; the worker is killed after its first progress report
LEASE, SWEEP = 3, 1  # seconds, in the processes' environment (JOB_LEASE_SECONDS, JOB_SWEEP_SECONDS)


def test_a_worker_killed_mid_export_leaves_nothing_and_another_takes_the_job_over_within_lease_and_sweep(
    transactional_db, app, manager, tmp_path
):
    reviewed_many(app, manager, ROWS)
    token = token_for(manager)
    with Stack(tmp_path, JOB_LEASE_SECONDS=str(LEASE), JOB_SWEEP_SECONDS=str(SWEEP)) as stack:
        stack.redis.start()
        stack.web()
        stack.beat()
        first = stack.worker("first")
        answer, _ = start_export(stack, token, app, "golden")
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["job_id"]
        wait_until(
            lambda: Job.objects.filter(pk=job_id, progress_done__gt=0).exists(),
            "the job to be under way",
            timeout=120,
            every=0.05,
        )
        # Killed at once: a fast machine finishes the export while a second worker starts up.
        os.kill(first.pid, signal.SIGKILL)
        killed_at = timezone.now()
        first.wait(10)

        # Killed mid-way: half-written files in the job's private folder, no version anywhere.
        job = Job.objects.get(pk=job_id)
        assert job.status == Job.Status.RUNNING and 0 < job.progress_done < ROWS
        assert list((settings.EXPORT_DIR / ".tmp").glob(f"{job.id}-*"))
        assert not EvaluationSetVersion.objects.exists()

        stack.worker("second")
        ready_at = timezone.now()
        wait_until(lambda: Job.objects.get(pk=job_id).attempts == 2, "the job to be taken over", timeout=60)
        job = Job.objects.get(pk=job_id)
        # The lease the dead worker's last heartbeat left (or the second worker's start, if later),
        # then at most a sweep until it is sent again and a few seconds for the new worker to claim
        # it: not the broker's 15 minutes.
        free_at = max(killed_at + timedelta(seconds=LEASE), ready_at)
        assert job.started_at - free_at < timedelta(seconds=SWEEP + 3)
        wait_until(lambda: Job.objects.get(pk=job_id).is_finished, "the job to finish", timeout=200)

        job.refresh_from_db()
        assert (job.status, job.attempts) == (Job.Status.SUCCEEDED, 2), job.error
        [version] = EvaluationSetVersion.objects.all()
        assert version.job_id == job.pk and version.number == 1 and version.row_count == ROWS
        lines = (version.directory / "evaluation_set.jsonl").read_text().splitlines()
        assert len(lines) == ROWS
        assert not list((settings.EXPORT_DIR / ".tmp").glob(f"{job.id}-*"))
        assert "ERROR" not in stack.log("second"), stack.log("second")
