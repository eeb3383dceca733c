"""Cancelling a job: a queued one is never run, a running one stops at its next step keeping what
it made (a judge run here, with a real worker), a finished one is a 409 saying so."""

import pytest

from reviewapp.exports.selection import Filters
from reviewapp.jobs.models import Job
from reviewapp.jobs.services import run_job
from reviewapp.judges import services
from reviewapp.judges.models import JudgeResult
from reviewapp.judges.runs import LLM_BATCH, run
from tests import factories
from tests.exports.helpers import wait_until
from tests.judges import judge_model


def reviewed(app, manager, n):
    for i in range(n):
        request = factories.make_request(app, response=f"Answer {i}.")
        factories.make_assessment(request, manager, "positive")


def safety_judge(app, manager, server):
    return services.create_judge(
        app=app, user=manager, name="safe", kind="llm", metric="safety", **judge_model.settings_of(server)
    )


def test_a_queued_job_cancelled_is_never_run(app, manager, as_user, judge_server):
    reviewed(app, manager, 3)
    job = services.start_run(judge=safety_judge(app, manager, judge_server), user=manager, filters=Filters())

    answer = as_user(manager).post(f"/api/v1/jobs/{job.pk}/cancel")

    assert answer.status_code == 200 and answer.json()["status"] == "cancelled"
    # Its message arrives later all the same: the worker leaves a finished job alone.
    assert run_job(str(job.pk), run).status == Job.Status.CANCELLED
    assert judge_server.requests == [] and not JudgeResult.objects.exists()


def test_a_finished_job_cannot_be_cancelled_and_others_cannot_see_it(
    app, manager, outsider, as_user, judge_server
):
    reviewed(app, manager, 1)
    job = services.start_run(judge=safety_judge(app, manager, judge_server), user=manager, filters=Filters())
    run_job(str(job.pk), run)

    refused = as_user(manager).post(f"/api/v1/jobs/{job.pk}/cancel")

    assert refused.status_code == 409
    assert refused.json() == {
        "detail": "The job has finished (succeeded): there is nothing to cancel.",
        "status": "succeeded",
    }
    assert as_user(outsider).post(f"/api/v1/jobs/{job.pk}/cancel").status_code == 404


@pytest.mark.worker
def test_a_running_job_stops_at_its_next_step_and_keeps_what_it_made(
    app, manager, as_user, judge_server, celery_worker
):
    judge_server.delay = 0.15  # a batch of 20 at 4 calls at a time: about 0.75 s
    reviewed(app, manager, LLM_BATCH * 4)
    safety_judge(app, manager, judge_server)
    client = as_user(manager)
    started = client.post("/api/v1/apps/support-bot/judges/safe/runs", {}, content_type="application/json")
    job_id = started.json()["job_id"]
    wait_until(lambda: Job.objects.get(pk=job_id).progress_done >= LLM_BATCH, timeout=60)

    assert client.post(f"/api/v1/jobs/{job_id}/cancel").json()["cancel_requested"] is True
    page = client.get(f"/jobs/{job_id}/").content.decode()
    assert "stopping at its next step" in page or "Cancelled after" in page

    wait_until(lambda: Job.objects.get(pk=job_id).is_finished, timeout=60)
    job = Job.objects.get(pk=job_id)
    assert job.status == Job.Status.CANCELLED, job.error
    made = JudgeResult.objects.count()
    # Whole batches, stored as they were judged; the rest never asked.
    assert made % LLM_BATCH == 0 and LLM_BATCH <= made < LLM_BATCH * 4
    assert job.result == {"stopped_at": made}
    assert "Cancelled after" in client.get(f"/jobs/{job_id}/").content.decode()
