"""Jobs are rows first, messages second: with the broker (a Redis of the test's own) down or
restarted without persistence, a job accepted with 202 still runs, exactly once (real gunicorn,
Celery worker and beat processes)."""

import pytest
import redis

from reviewapp.exports.models import EvaluationSetVersion
from reviewapp.jobs.models import Job
from tests.exports.helpers import reviewed
from tests.jobs.stack import Stack, start_export, token_for
from tests.processes import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.timeout(300)]

# The sweep runs every second here; a queued job's message counts as lost after two.
FAST_SWEEP = {"JOB_SWEEP_SECONDS": "1", "JOB_RESEND_SECONDS": "2"}


def finished(job_ids) -> bool:
    return not Job.objects.filter(pk__in=job_ids, status__in=["queued", "running"]).exists()


def assert_ran_once(job_id) -> None:
    job = Job.objects.get(pk=job_id)
    assert (job.status, job.attempts) == ("succeeded", 1), job.error
    [version] = EvaluationSetVersion.objects.filter(job=job)
    assert version.row_count == 1


def test_an_export_started_while_the_broker_is_down_is_accepted_at_once_and_runs_once_it_is_back(
    transactional_db, app, manager, tmp_path
):
    reviewed(app, manager)
    token = token_for(manager)
    with Stack(tmp_path, **FAST_SWEEP) as stack:
        stack.redis.start().stop()  # down, as an operator would find it
        stack.web()

        answer, seconds = start_export(stack, token, app, "golden")

        # It used to block 19 s, then answer 500, the job left queued for good.
        assert answer.status_code == 202, answer.text
        assert seconds < 5
        job = Job.objects.get(pk=answer.json()["job_id"])
        assert (job.status, job.sent_at, job.attempts) == ("queued", None, 0)

        stack.redis.start()
        stack.worker("worker")
        stack.beat()
        wait_until(lambda: finished([job.pk]), "the job to run", timeout=120)
        assert_ran_once(job.pk)
        assert "ERROR" not in stack.log("worker"), stack.log("worker")


def test_jobs_whose_messages_a_restarted_broker_lost_are_sent_again_and_each_runs_once(
    transactional_db, app, manager, tmp_path
):
    reviewed(app, manager)
    token = token_for(manager)
    with Stack(tmp_path, **FAST_SWEEP) as stack:
        stack.redis.start()
        stack.web()
        answers = [start_export(stack, token, app, name)[0] for name in ("golden", "silver")]
        assert [a.status_code for a in answers] == [202, 202], [a.text for a in answers]
        job_ids = [a.json()["job_id"] for a in answers]
        assert Job.objects.filter(pk__in=job_ids, status="queued", sent_at__isnull=False).count() == 2
        assert redis.Redis.from_url(stack.redis.url).llen("celery") == 2

        # A Redis without persistence, restarted: both messages are gone.
        stack.redis.stop(kill=True)
        stack.redis.start()
        assert redis.Redis.from_url(stack.redis.url).llen("celery") == 0

        stack.worker("worker")
        stack.beat()
        wait_until(lambda: finished(job_ids), "both jobs to run", timeout=120)
        for job_id in job_ids:
            assert_ran_once(job_id)
        assert "ERROR" not in stack.log("worker"), stack.log("worker")
