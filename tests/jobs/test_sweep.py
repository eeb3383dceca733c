"""The jobs sweep: which unfinished jobs it sends again, in what order, how many, and that a sent
job is not sent again at the next sweep (real database and broker)."""

import importlib
from datetime import timedelta

import pytest
from django.utils import timezone

from reviewapp.celery import app as celery_app
from reviewapp.exports.models import EvaluationSet, EvaluationSetVersion, MlflowStatus
from reviewapp.exports.tasks import mlflow_steps_due
from reviewapp.jobs import services
from reviewapp.jobs.models import Job
from reviewapp.requestlog.tasks import import_traces

ago = lambda seconds: timezone.now() - timedelta(seconds=seconds)  # noqa: E731
ahead = lambda seconds: timezone.now() + timedelta(seconds=seconds)  # noqa: E731


@pytest.fixture(autouse=True)
def _timing(settings):
    settings.JOB_RESEND_SECONDS = 60
    settings.JOB_SWEEP_LIMIT = 200


def job(app, name: str, **fields) -> Job:
    return Job.objects.create(
        kind="import_traces", app=app, task=import_traces.name, params={"name": name}, **fields
    )


def names(jobs) -> set[str]:
    return {j.params["name"] for j in jobs}


def test_the_sweep_picks_jobs_not_sent_lost_or_left_by_a_dead_worker_and_leaves_the_rest(app):
    job(app, "never sent", sent_at=None)
    job(app, "sent long ago", sent_at=ago(61))
    job(app, "sent lately", sent_at=ago(5))
    job(app, "running", status="running", attempts=1, lease_until=ahead(20), sent_at=ago(600))
    job(app, "dead worker", status="running", attempts=1, lease_until=ago(1), sent_at=ago(20))
    job(app, "dead worker, sent since", status="running", attempts=1, lease_until=ago(10), sent_at=ago(5))
    job(app, "dead worker, sent long ago", status="running", attempts=1, lease_until=ago(90), sent_at=ago(70))
    job(app, "succeeded", status="succeeded", attempts=1, sent_at=None)
    job(app, "failed", status="failed", attempts=1, sent_at=ago(600))

    assert names(services.due_for_sending()) == {
        "never sent",
        "sent long ago",
        "dead worker",
        "dead worker, sent long ago",
    }


def test_a_sweep_sends_the_longest_waiting_first_up_to_its_limit_and_each_once(app):
    never = job(app, "never sent", created_at=ago(5))
    lost = job(app, "lost", sent_at=ago(300))
    latest = job(app, "lost lately", sent_at=ago(100))

    assert services.sweep(limit=2) == 2

    sent = {j.pk: j.sent_at for j in Job.objects.all()}
    assert sent[never.pk] > ago(5) and sent[lost.pk] > ago(5)
    assert sent[latest.pk] == latest.sent_at
    assert services.sweep() == 1
    assert services.sweep() == 0


def test_a_job_of_a_task_no_worker_knows_is_left_out_of_the_sweep(app):
    Job.objects.create(kind="import_traces", app=app, task="reviewapp.gone", params={})
    assert services.sweep() == 0


def test_each_kind_named_by_the_migration_is_a_task_a_worker_runs():
    migration = importlib.import_module("reviewapp.jobs.migrations.0003_job_task_sent_at")
    assert set(migration.TASKS.values()) <= set(celery_app.tasks.keys())


def test_the_mlflow_sweep_picks_steps_never_started_or_left_by_a_dead_worker(app):
    evaluation_set = EvaluationSet.objects.create(app=app, name="golden")

    def version(number: int, **fields):
        row = EvaluationSetVersion.objects.create(
            evaluation_set=evaluation_set,
            number=number,
            job=Job.objects.create(kind="export_evaluation_set", app=app, status="succeeded"),
            row_count=1,
            relative_dir=f"v{number}",
        )
        EvaluationSetVersion.objects.filter(pk=row.pk).update(**fields)
        return row.pk

    never_started = version(1, created_at=ago(61))
    version(2, created_at=ago(5))  # its message is on its way
    dead_worker = version(3, mlflow_attempts=1, mlflow_lease_until=ago(1))
    version(4, mlflow_attempts=1, mlflow_lease_until=ahead(60))  # a live worker's
    version(5, mlflow_attempts=1, created_at=ago(600))  # failed once, waits for its own retry
    version(6, mlflow_status=MlflowStatus.DONE, created_at=ago(600))
    version(7, mlflow_status=MlflowStatus.FAILED, mlflow_attempts=7, mlflow_lease_until=ago(600))

    due = set(mlflow_steps_due(EvaluationSetVersion).values_list("pk", flat=True))
    assert due == {never_started, dead_worker}
