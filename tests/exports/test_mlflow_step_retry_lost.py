"""An export's MLflow step whose retry message is lost still runs: a step that failed (tracking
store down) records when its retry is due; the worker holding that retry for its countdown is
killed (SIGKILL: Redis gives the message back only after the visibility timeout), and the exports
sweep sends the step again once the retry is overdue (real gunicorn, Celery worker and beat
processes on a Redis of the test's own)."""

import os
import signal

import pytest

from reviewapp.exports.models import EvaluationSetVersion, MlflowStatus
from tests.exports.helpers import reviewed
from tests.jobs.stack import Stack, start_export, token_for
from tests.processes import free_port, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.timeout(300)]

# The sweep runs every second; a retry counts as lost two seconds after it was due (30 s after the
# failure: the first retry's countdown).
FAST_SWEEP = {"JOB_SWEEP_SECONDS": "1", "JOB_RESEND_SECONDS": "2", "CELERY_VISIBILITY_TIMEOUT": "3600"}
STORE_DOWN = {
    "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}",  # nothing listens there
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "2",
}


def step(job_id) -> EvaluationSetVersion | None:
    return EvaluationSetVersion.objects.filter(job_id=job_id).first()


def test_a_step_whose_retry_died_with_its_worker_is_sent_again_once_overdue_and_done_once(
    transactional_db, app, manager, tmp_path
):
    reviewed(app, manager)
    token = token_for(manager)
    working_store = os.environ["MLFLOW_TRACKING_URI"]
    with Stack(tmp_path, **FAST_SWEEP, **STORE_DOWN) as stack:
        stack.redis.start()
        stack.web()
        first = stack.worker("first")
        answer, _ = start_export(stack, token, app, "golden")
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["job_id"]

        def failed_once():
            version = step(job_id)
            return version and version.mlflow_attempts == 1 and version.mlflow_lease_until is None

        wait_until(failed_once, "the MLflow step to fail once", timeout=120)
        version = step(job_id)
        assert (version.mlflow_status, bool(version.mlflow_error)) == (MlflowStatus.PENDING, True)
        assert version.mlflow_next_try_at > version.created_at
        # The retry waits for its countdown in the worker, which dies: its message is gone.
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)

        stack.env.update(MLFLOW_TRACKING_URI=working_store)
        for name in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
            stack.env.pop(name)
        stack.worker("second")
        stack.beat()
        wait_until(
            lambda: step(job_id).mlflow_status == MlflowStatus.DONE, "the step to be sent again", timeout=150
        )

        version = step(job_id)
        assert (version.mlflow_attempts, version.mlflow_error, version.mlflow_next_try_at) == (2, "", None)
        assert version.mlflow_run_id
        assert version.mlflow_sent_at > version.created_at
        assert "ERROR" not in stack.log("second"), stack.log("second")
