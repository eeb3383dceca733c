"""A worker that paused past its lease and was taken over cannot write any more: its claim (the
`attempts` it got) no longer matches, so its writes raise LeaseLost and the new holder's state
stays. Its task then stops quietly."""

import logging
from datetime import timedelta

import pytest
from celery import shared_task
from django.utils import timezone

from reviewapp.exports import mlflow_step
from reviewapp.exports.models import EvaluationSet, EvaluationSetVersion, MlflowStatus
from reviewapp.feedback import mlflow_sync
from reviewapp.feedback.models import MlflowSync
from reviewapp.jobs.leases import LeaseLost
from reviewapp.jobs.models import Job
from reviewapp.jobs.services import run_job, run_job_task
from tests.exports.helpers import reviewed


def expire(model, pk, until: str) -> None:
    """As if the holder had paused longer than its lease."""
    model.objects.filter(pk=pk).update(**{until: timezone.now() - timedelta(seconds=1)})


def taken_over_job(app) -> tuple[Job, Job]:
    """The same job as seen by its old holder and by the worker that took it over."""
    old = Job.objects.create(kind="import_traces", app=app)
    assert old.claim()
    expire(Job, old.pk, "lease_until")
    new = Job.objects.get(pk=old.pk)
    assert new.claim()
    new.report_progress(7, 10)
    return old, new


def test_a_job_holder_that_was_taken_over_cannot_report_progress_succeed_or_fail(app):
    old, new = taken_over_job(app)

    for write in (lambda: old.report_progress(99, 100), lambda: old.succeed({}), lambda: old.fail("x")):
        with pytest.raises(LeaseLost):
            write()

    row = Job.objects.get(pk=new.pk)
    assert (row.status, row.attempts, row.progress_done, row.progress_total) == ("running", 2, 7, 10)
    assert (row.lease_until, row.result, row.error, row.finished_at) == (new.lease_until, {}, "", None)
    new.succeed({"imported": 1})
    assert Job.objects.get(pk=new.pk).status == "succeeded"


def _taken_over_while_working(job: Job) -> dict:
    expire(Job, job.pk, "lease_until")
    assert Job.objects.get(pk=job.pk).claim()
    job.report_progress(1)
    return {"never": "saved"}


@shared_task(bind=True, name="tests.jobs.taken_over_job")
def taken_over_task(self, job_id: str) -> str:
    return run_job_task(self, job_id, _taken_over_while_working)


def test_a_job_task_taken_over_while_working_stops_quietly_and_marks_nothing(app, caplog):
    caplog.set_level(logging.INFO)
    job = Job.objects.create(kind="import_traces", app=app)

    assert taken_over_task.apply(args=[str(job.pk)]).get() == "lost"

    job.refresh_from_db()
    assert (job.status, job.attempts, job.result, job.error) == ("running", 2, {}, "")
    [lost] = [r for r in caplog.records if "lost its lease to another worker" in r.getMessage()]
    assert lost.levelno == logging.INFO and lost.exc_info is None
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_a_job_whose_work_fails_after_a_takeover_is_not_marked_failed(app, caplog):
    job = Job.objects.create(kind="import_traces", app=app)

    def work(job):
        expire(Job, job.pk, "lease_until")
        assert Job.objects.get(pk=job.pk).claim()
        raise RuntimeError("its files were moved by the new holder")

    with pytest.raises(LeaseLost):
        run_job(str(job.pk), work)

    job.refresh_from_db()
    assert (job.status, job.attempts, job.error) == ("running", 2, "")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_an_export_mlflow_step_that_was_taken_over_cannot_renew_finish_or_record_a_failure(app):
    job = Job.objects.create(kind="export_evaluation_set", app=app, status="succeeded")
    evaluation_set = EvaluationSet.objects.create(app=app, name="golden")
    version = EvaluationSetVersion.objects.create(
        evaluation_set=evaluation_set, number=1, job=job, row_count=1, relative_dir="x"
    )
    old = mlflow_step._claim(EvaluationSetVersion, version.pk)
    expire(EvaluationSetVersion, version.pk, "mlflow_lease_until")
    new = mlflow_step._claim(EvaluationSetVersion, version.pk)
    old.mlflow_run_id = "stale-run"

    with pytest.raises(LeaseLost):
        mlflow_step._renew(old)
    with pytest.raises(LeaseLost):
        mlflow_step._finish(old, ["mlflow_run_id"])
    with pytest.raises(LeaseLost):
        mlflow_step._record_failure(old, RuntimeError("store down"), final=True)

    row = EvaluationSetVersion.objects.get(pk=version.pk)
    assert (row.mlflow_status, row.mlflow_attempts, row.mlflow_lease_until) == (
        MlflowStatus.PENDING,
        2,
        new.mlflow_lease_until,
    )
    assert (row.mlflow_run_id, row.mlflow_error) == ("", "")
    mlflow_step._finish(new, [])
    assert EvaluationSetVersion.objects.get(pk=version.pk).mlflow_status == MlflowStatus.DONE


def test_a_write_back_that_was_taken_over_cannot_save_what_it_wrote(app, manager):
    request = reviewed(app, manager)
    # A trace this tracking store has not got: the write-back notes why and skips the row.
    request.mlflow_trace_id = "tr-00000000000000000000000000000000"
    request.save(update_fields=["mlflow_trace_id"])
    sync = MlflowSync.objects.create(assessment=request.assessments.get())
    assert mlflow_sync.claim(sync.pk)
    old = MlflowSync.objects.select_related("assessment__request").get(pk=sync.pk)
    expire(MlflowSync, sync.pk, "locked_until")
    assert mlflow_sync.claim(sync.pk)
    new = MlflowSync.objects.get(pk=sync.pk)

    with pytest.raises(LeaseLost):
        mlflow_sync.write_back(old)
    with pytest.raises(LeaseLost):
        mlflow_sync.LEASE.release(MlflowSync.objects.filter(pk=sync.pk), old.attempts, status="done")

    row = MlflowSync.objects.get(pk=sync.pk)
    assert (row.status, row.attempts, row.last_error) == ("pending", 2, "")
    assert row.locked_until == new.locked_until
    # The new holder's own write-back goes through.
    mlflow_sync._run(sync.pk)
    row = MlflowSync.objects.get(pk=sync.pk)
    assert (row.status, row.locked_until) == ("skipped", None)
    assert "tr-00000000000000000000000000000000" in row.last_error
