"""What happens once a job is committed never fails the request that started it: a job whose
message was sent but whose `sent_at` could not be saved (the database refusing the write, here by
a trigger) is accepted all the same and runs once (real database and Celery worker)."""

import contextlib
import logging

import pytest
from django.db import connection

from reviewapp.jobs.models import Job
from reviewapp.jobs.services import enqueue
from reviewapp.requestlog.tasks import import_traces
from tests.processes import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.timeout(120)]

ROW = '{"request_id": "00000000-0000-0000-0000-000000000001", "request": "hi", "response": "hello"}\n'


@contextlib.contextmanager
def sent_at_refused():
    """The database refuses every change of a job's sent_at while in the block."""
    table = Job._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION refuse_sent_at() RETURNS trigger AS $$ BEGIN "
                "IF NEW.sent_at IS DISTINCT FROM OLD.sent_at THEN RAISE EXCEPTION 'sent_at refused'; "
                "END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                f"CREATE TRIGGER refuse_sent_at BEFORE UPDATE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION refuse_sent_at()"
            )
        else:
            cursor.execute(
                f"CREATE TRIGGER refuse_sent_at BEFORE UPDATE OF sent_at ON {table} "
                "WHEN NEW.sent_at IS NOT OLD.sent_at BEGIN SELECT RAISE(ABORT, 'sent_at refused'); END"
            )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER refuse_sent_at ON {table}")
                cursor.execute("DROP FUNCTION refuse_sent_at()")
            else:
                cursor.execute("DROP TRIGGER refuse_sent_at")


def test_a_job_whose_sent_at_cannot_be_saved_is_accepted_all_the_same_and_runs_once(
    celery_worker, app, manager, tmp_path, caplog
):
    path = tmp_path / "rows.jsonl"
    path.write_text(ROW)

    with sent_at_refused():
        # It used to raise here, after the job was committed and sent: the client would start it again.
        job = enqueue(
            kind="import_traces",
            app=app,
            user=manager,
            params={"source": "jsonl", "path": str(path)},
            task=import_traces,
        )
        wait_until(lambda: Job.objects.get(pk=job.pk).is_finished, "the job to run", timeout=60)

    job.refresh_from_db()
    assert (job.status, job.attempts, job.result["imported"], job.sent_at) == ("succeeded", 1, 1, None)
    assert Job.objects.count() == 1
    [warning] = [r for r in caplog.records if "sent_at was not saved" in r.getMessage()]
    assert warning.levelno == logging.WARNING
