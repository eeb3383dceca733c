"""The heartbeat of a running job: it keeps a short lease alive while the work reports nothing, it
is fenced like every write of the holder (a holder taken over, or a finished job, is never held
again), it stops with the work (real database; its own connection), and it lets a job that has
stopped moving (hung) go after JOB_STALL_SECONDS, so another worker takes it over."""

import threading
import time
from datetime import datetime, timedelta

import pytest
from django.db import connections
from django.utils import timezone

from reviewapp.jobs.leases import Heartbeat
from reviewapp.jobs.models import Job
from reviewapp.jobs.services import run_job
from tests.processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def lease_of(job) -> datetime | None:
    return Job.objects.values_list("lease_until", flat=True).get(pk=job.pk)


def test_a_job_that_reports_no_progress_keeps_its_lease_while_it_works(app, settings):
    settings.JOB_LEASE_SECONDS = 1.5
    job = Job.objects.create(kind="import_traces", app=app)
    seen = []

    def work(job):
        deadline = time.monotonic() + 5  # more than three leases, without a progress report
        while time.monotonic() < deadline:
            seen.append((timezone.now(), lease_of(job)))
            time.sleep(0.2)
        return {"done": True}

    assert run_job(str(job.pk), work).status == "succeeded"

    assert all(until > now for now, until in seen), "the lease ran out while the job worked"
    assert seen[-1][1] > seen[0][1] + timedelta(seconds=2)
    job.refresh_from_db()
    assert (job.status, job.attempts, job.lease_until) == ("succeeded", 1, None)
    assert not [t for t in threading.enumerate() if t.name == "lease-heartbeat"]


def test_the_heartbeat_of_a_holder_that_was_taken_over_stops_and_leaves_the_new_lease_alone(app):
    old = Job.objects.create(kind="import_traces", app=app)
    assert old.claim()
    with Heartbeat(Job.LEASE, Job.objects.filter(pk=old.pk), old.attempts, every=0.05) as heartbeat:
        Job.objects.filter(pk=old.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
        new = Job.objects.get(pk=old.pk)
        assert new.claim()
        wait_until(lambda: heartbeat.lost, "the old holder's heartbeat to notice", timeout=10, every=0.05)
        time.sleep(0.2)
        assert (lease_of(new), new.attempts) == (new.lease_until, 2)


def test_a_heartbeat_after_the_job_finished_does_not_hold_it_again(app):
    job = Job.objects.create(kind="import_traces", app=app)
    assert job.claim()
    job.succeed({})
    heartbeat = job.heartbeat()
    heartbeat.every = 0.05
    with heartbeat:
        wait_until(lambda: heartbeat.lost, "the heartbeat to stop", timeout=10, every=0.05)
    assert lease_of(job) is None


def test_a_hung_job_is_let_go_after_the_stall_bound_and_taken_over_and_the_hung_run_records_nothing(
    app, settings, caplog
):
    settings.JOB_LEASE_SECONDS = 1
    settings.JOB_STALL_SECONDS = 2
    job = Job.objects.create(kind="import_traces", app=app)
    release, outcome = threading.Event(), {}

    def hung(job):
        job.report_progress(1, 10)
        release.wait(60)  # a call that never returns, as far as the job can tell
        return {"by": "the hung run"}

    def first_worker():
        try:
            run_job(str(job.pk), hung)
        except Exception as exc:  # noqa: BLE001 - what the hung run ends with is the point
            outcome["first"] = type(exc).__name__
        finally:
            connections.close_all()

    thread = threading.Thread(target=first_worker)
    thread.start()
    try:
        wait_until(lambda: lease_of(job) is not None, "the first worker to claim the job", timeout=10)
        # Its heartbeat renews the lease for the stall bound, then lets it run out.
        wait_until(lambda: lease_of(job) < timezone.now(), "the hung job's lease to run out", timeout=15)
        taken_over = run_job(str(job.pk), lambda job: {"by": "the second worker"})
    finally:
        release.set()
        thread.join(30)

    assert (taken_over.status, taken_over.attempts) == ("succeeded", 2)
    assert outcome == {"first": "LeaseLost"}
    job.refresh_from_db()
    assert (job.status, job.attempts, job.result) == ("succeeded", 2, {"by": "the second worker"})
    assert any("made no progress" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")


def test_a_job_that_keeps_reporting_progress_keeps_its_lease_past_the_stall_bound(app, settings):
    settings.JOB_LEASE_SECONDS = 1
    settings.JOB_STALL_SECONDS = 1
    job = Job.objects.create(kind="import_traces", app=app)
    seen = []

    def work(job):
        for done in range(15):  # 4.5 s, well past the bound, moving all along
            job.report_progress(done, 15)
            seen.append((timezone.now(), lease_of(job)))
            time.sleep(0.3)
        return {"done": True}

    assert run_job(str(job.pk), work).status == "succeeded"
    assert all(until > now for now, until in seen), "the lease ran out while the job moved"
    assert Job.objects.get(pk=job.pk).attempts == 1
