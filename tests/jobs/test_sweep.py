"""The jobs sweep: which unfinished jobs it sends again, in what order, how many, and that a sent
job is not sent again at the next sweep (real database and broker)."""

import importlib
from datetime import timedelta

import pytest
from django.utils import timezone

from reviewapp.celery import app as celery_app
from reviewapp.exports.models import EvaluationSet, EvaluationSetVersion, MlflowStatus
from reviewapp.exports.tasks import mlflow_steps_due, sweep_mlflow_steps
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


def test_a_job_of_no_task_or_a_task_no_worker_knows_is_failed_by_the_sweep_saying_why(app, caplog):
    gone = Job.objects.create(kind="import_traces", app=app, task="reviewapp.gone", params={})
    nameless = Job.objects.create(kind="import_traces", app=app, task="", params={})
    abandoned = Job.objects.create(
        kind="import_traces", app=app, task="reviewapp.gone", status="running", attempts=1, lease_until=ago(1)
    )
    known = job(app, "known")

    assert services.sweep() == 1

    for row, reason in ((gone, "no task is named 'reviewapp.gone'"), (nameless, "it names no task")):
        row.refresh_from_db()
        assert (row.status, row.finished_at is not None) == ("failed", True)
        assert reason in row.error
    abandoned.refresh_from_db()
    assert (abandoned.status, abandoned.lease_until) == ("failed", None)
    known.refresh_from_db()
    assert (known.status, known.sent_at is not None) == ("queued", True)
    logged = [r for r in caplog.records if r.levelname == "ERROR" and "cannot run" in r.getMessage()]
    assert len(logged) == 3
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
    # Failed once: its retry is due in a while, lately, or long ago (its message was lost).
    version(5, mlflow_attempts=1, created_at=ago(600), mlflow_next_try_at=ahead(900))
    version(8, mlflow_attempts=1, created_at=ago(600), mlflow_next_try_at=ago(30))
    retry_lost = version(9, mlflow_attempts=2, created_at=ago(600), mlflow_next_try_at=ago(61))
    version(6, mlflow_status=MlflowStatus.DONE, created_at=ago(600))
    version(7, mlflow_status=MlflowStatus.FAILED, mlflow_attempts=7, mlflow_lease_until=ago(600))
    # Sent again lately, by a sweep: not again before JOB_RESEND_SECONDS.
    version(10, created_at=ago(600), mlflow_sent_at=ago(5))
    version(11, mlflow_attempts=1, mlflow_lease_until=ago(10), mlflow_sent_at=ago(5))
    version(12, mlflow_attempts=1, created_at=ago(600), mlflow_next_try_at=ago(90), mlflow_sent_at=ago(5))
    # Sent long ago, or before its worker died or its retry was due.
    lost_again = version(13, created_at=ago(600), mlflow_sent_at=ago(61))
    dead_since = version(14, mlflow_attempts=1, mlflow_lease_until=ago(10), mlflow_sent_at=ago(40))
    retry_since = version(
        15, mlflow_attempts=1, created_at=ago(600), mlflow_next_try_at=ago(70), mlflow_sent_at=ago(100)
    )

    due = set(mlflow_steps_due(EvaluationSetVersion).values_list("pk", flat=True))
    assert due == {never_started, dead_worker, retry_lost, lost_again, dead_since, retry_since}


def test_a_step_the_mlflow_sweep_sent_is_not_sent_again_at_the_next_sweep(app):
    evaluation_set = EvaluationSet.objects.create(app=app, name="golden")
    version = EvaluationSetVersion.objects.create(
        evaluation_set=evaluation_set,
        number=1,
        job=Job.objects.create(kind="export_evaluation_set", app=app, status="succeeded"),
        row_count=1,
        relative_dir="v1",
        created_at=ago(61),
    )

    assert sweep_mlflow_steps() == 1
    assert EvaluationSetVersion.objects.get(pk=version.pk).mlflow_sent_at > ago(5)
    assert sweep_mlflow_steps() == 0
