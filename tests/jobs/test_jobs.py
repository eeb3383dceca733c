import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from reviewapp.jobs.leases import Busy
from reviewapp.jobs.models import Job
from reviewapp.jobs.services import enqueue, eta_seconds, run_job
from reviewapp.requestlog.tasks import import_traces


def make_job(app, user=None, **extra):
    return Job.objects.create(kind="import_traces", app=app, created_by=user, params={}, **extra)


def test_a_queued_job_is_claimed_once(app):
    job = make_job(app)
    first, second = Job.objects.get(pk=job.pk), Job.objects.get(pk=job.pk)
    assert first.claim() is True
    assert second.claim() is False
    first.refresh_from_db()
    assert (first.status, first.attempts) == ("running", 1)


@pytest.mark.django_db(transaction=True)
def test_ten_workers_claiming_at_once_get_it_once(app):
    job = make_job(app)
    wins, barrier = [], threading.Barrier(10)

    def worker():
        try:
            barrier.wait()
            if Job.objects.get(pk=job.pk).claim():
                wins.append(1)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1
    assert Job.objects.get(pk=job.pk).attempts == 1


def test_a_running_job_whose_lease_ran_out_is_taken_over_and_a_held_one_is_not(app):
    now = timezone.now()
    abandoned = make_job(app, status="running", lease_until=now - timedelta(seconds=1), attempts=1)
    held = make_job(app, status="running", lease_until=now + timedelta(seconds=30), attempts=1)
    assert abandoned.claim() is True
    assert held.claim() is False
    assert (abandoned.attempts, abandoned.lease_until > now) == (2, True)


def test_progress_renews_the_lease_and_finishing_releases_it(app):
    job = make_job(app)
    assert job.claim()
    first_lease = job.lease_until
    job.report_progress(1, 2)
    job.refresh_from_db()
    assert job.lease_until >= first_lease
    job.succeed({})
    job.refresh_from_db()
    assert job.lease_until is None


def test_run_job_says_busy_with_the_time_left_when_another_worker_holds_the_job(app):
    job = make_job(app, status="running", lease_until=timezone.now() + timedelta(seconds=30), attempts=1)
    with pytest.raises(Busy) as busy:
        run_job(str(job.pk), lambda j: {})
    assert 29 <= busy.value.retry_in <= 31


def test_run_job_leaves_a_finished_job_alone(app):
    job = make_job(app, status="succeeded", result={"imported": 1})
    calls = []
    run_job(str(job.pk), lambda j: calls.append(j) or {})
    assert calls == []
    job.refresh_from_db()
    assert job.result == {"imported": 1}


def test_run_job_records_the_result_or_the_failure(app):
    ok, bad = make_job(app), make_job(app)

    def work(job):
        job.report_progress(5, 10)
        return {"done": True}

    def explode(job):
        raise RuntimeError("tracking store unreachable")

    assert run_job(str(ok.pk), work).status == "succeeded"
    ok.refresh_from_db()
    assert (ok.result, ok.progress_done, ok.progress_total) == ({"done": True}, 5, 10)
    failed = run_job(str(bad.pk), explode)
    assert failed.status == "failed"
    assert failed.error == "RuntimeError: tracking store unreachable"


def test_enqueue_sends_the_task_only_after_the_transaction_commits(
    app, manager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = enqueue(kind="import_traces", app=app, user=manager, params={"x": 1}, task=import_traces)
    assert len(callbacks) == 1
    assert (job.status, job.created_by, job.params) == ("queued", manager, {"x": 1})


def test_eta_comes_from_the_rate_so_far(app):
    job = make_job(app, status="running", started_at=timezone.now() - timedelta(seconds=10))
    assert eta_seconds(job) is None
    job.progress_done, job.progress_total = 50, 150
    assert 19 < eta_seconds(job) < 21


def test_the_progress_fragment_polls_while_running_and_stops_when_done(app, manager, as_user):
    job = make_job(
        app, manager, status="running", started_at=timezone.now(), progress_done=3, progress_total=12
    )
    client = as_user(manager)
    running = client.get(
        reverse("job-progress", args=[job.pk]), headers={"HX-Request": "true"}
    ).content.decode()
    assert 'hx-trigger="every 1s"' in running
    assert '<progress value="3" max="12"' in running
    assert "<html" not in running
    Job.objects.filter(pk=job.pk).update(
        status="succeeded",
        finished_at=timezone.now(),
        result={
            "imported": 9,
            "already_present": 0,
            "bad_rows": 1,
            "rows_read": 10,
            "errors": [{"line": 4, "reason": "response is missing"}],
        },
    )
    done = client.get(reverse("job-progress", args=[job.pk]), headers={"HX-Request": "true"}).content.decode()
    assert "hx-trigger" not in done
    assert "response is missing" in done
    page = client.get(reverse("job-progress", args=[job.pk]))
    assert "<html" in page.content.decode()


def test_creator_and_managers_see_a_job_and_everyone_else_gets_404(
    app, manager, querier, outsider, staff, as_user
):
    mine = make_job(app, querier)
    theirs = make_job(app, manager)
    for user, job, status in [
        (querier, mine, 200),
        (manager, mine, 200),
        (staff, mine, 200),
        (querier, theirs, 404),
        (outsider, mine, 404),
    ]:
        client = as_user(user)
        assert client.get(reverse("job-progress", args=[job.pk])).status_code == status
        assert client.get(reverse("api-job-detail", args=[job.pk])).status_code == status
    assert as_user(None).get(reverse("api-job-detail", args=[mine.pk])).status_code in (401, 403)


def test_the_api_gives_status_progress_eta_and_result(app, manager, as_user):
    job = make_job(
        app,
        manager,
        status="running",
        started_at=timezone.now() - timedelta(seconds=4),
        progress_done=20,
        progress_total=100,
    )
    body = as_user(manager).get(reverse("api-job-detail", args=[job.pk])).json()
    assert (body["id"], body["kind"], body["app"], body["status"]) == (
        str(job.pk),
        "import_traces",
        app.slug,
        "running",
    )
    assert (body["progress_done"], body["progress_total"]) == (20, 100)
    assert 10 < body["eta_seconds"] < 20


def test_a_job_left_running_by_a_dead_worker_is_finished_by_the_redelivered_task(app, tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(
        '{"request_id": "00000000-0000-0000-0000-000000000001", "request": "hi", "response": "hello"}\n'
    )
    job = make_job(app, status="running", lease_until=timezone.now() - timedelta(seconds=1), attempts=1)
    Job.objects.filter(pk=job.pk).update(params={"source": "jsonl", "path": str(path)})
    assert import_traces.apply(args=[str(job.pk)]).get() == "succeeded"
    job.refresh_from_db()
    assert (job.status, job.attempts, job.result["imported"]) == ("succeeded", 2, 1)


def test_a_task_that_finds_its_job_held_by_a_live_worker_leaves_it_alone_at_once(app):
    job = make_job(app, status="running", lease_until=timezone.now() + timedelta(seconds=60), attempts=1)
    result = import_traces.apply(args=[str(job.pk)])
    # No retry: should the holder die, the jobs sweep sends the job again once its lease is out.
    assert (result.state, result.get()) == ("SUCCESS", "busy")
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("running", 1)
