"""A trace that ended in an error is imported as the turn it was: incomplete when part of the answer
came, failed when none did; never as a fine answer, never as a bad row.

Real traces: a chain span that raises inside `mlflow.start_span`, as a failing chain leaves it.
"""

import uuid

import pytest

from reviewapp.chains.mlflow_setup import configure
from reviewapp.jobs.models import Job
from reviewapp.requestlog.mlflow_import import ENDED_IN_ERROR
from reviewapp.requestlog.models import Request
from reviewapp.requestlog.services import start_mlflow_import, start_rows_import
from reviewapp.requestlog.tasks import import_traces
from tests import factories


class ModelCrashed(RuntimeError):
    pass


def log_trace(question: str, *, partial: str | None = None, crash: str | None = None) -> None:
    """A chain span in the current experiment; with `crash`, it raises after writing `partial`."""
    mlflow = configure()
    try:
        with mlflow.start_span(name="chain", span_type="CHAIN") as root:
            root.set_inputs({"messages": [{"role": "user", "content": question}]})
            if partial is not None:
                root.set_outputs(partial)
            if crash:
                raise ModelCrashed(crash)
    except ModelCrashed:
        pass
    mlflow.flush_trace_async_logging()


def run(job) -> Job:
    import_traces.apply(args=[str(job.pk)])
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    return job


@pytest.fixture
def own_experiment(db):
    """A fresh app (the run's MLflow store outlives each test) with its experiment current."""
    app = factories.make_app(f"errs-{uuid.uuid4().hex[:8]}")
    configure().set_experiment(app.mlflow_experiment_name())
    return app


def by_question(app) -> dict[str, Request]:
    return {r.messages[-1]["content"]: r for r in Request.objects.filter(app=app)}


def test_error_traces_come_in_as_incomplete_or_failed_turns_with_the_spans_message(own_experiment, staff):
    app = own_experiment
    log_trace("Fine?", partial="All fine.")
    log_trace("Cut?", partial="The first half", crash="the model ran out of memory")
    log_trace("Nothing?", crash="the model could not start")

    job = run(start_mlflow_import(app=app, user=staff, experiment=app.mlflow_experiment_name()))

    assert (job.result["imported"], job.result["bad_rows"]) == (3, 0), job.result["errors"]
    turns = by_question(app)
    assert (turns["Fine?"].status, turns["Fine?"].response, turns["Fine?"].error) == ("ok", "All fine.", "")
    cut = turns["Cut?"]
    assert (cut.status, cut.response) == ("incomplete", "The first half")
    assert "the model ran out of memory" in cut.error
    failed = turns["Nothing?"]
    assert (failed.status, failed.response) == ("error", "")
    assert "the model could not start" in failed.error


def test_an_error_trace_whose_span_gives_no_message_says_it_ended_in_an_error(own_experiment, staff):
    app = own_experiment
    mlflow = configure()
    # An error status without a message, as some tracers leave it.
    with mlflow.start_span(name="chain", span_type="CHAIN") as root:
        root.set_inputs({"messages": [{"role": "user", "content": "Silent failure?"}]})
        root.set_status("ERROR")
    mlflow.flush_trace_async_logging()

    run(start_mlflow_import(app=app, user=staff, experiment=app.mlflow_experiment_name()))

    turn = by_question(app)["Silent failure?"]
    assert (turn.status, turn.response, turn.error) == ("error", "", ENDED_IN_ERROR)


def test_a_row_with_status_error_needs_no_response_and_any_other_row_does(app, staff):
    rows = [
        {"request_id": str(uuid.uuid4()), "request": "Failed?", "status": "error", "error": "HTTP 503"},
        {"request_id": str(uuid.uuid4()), "request": "Fine?", "status": "ok"},
        {"request_id": str(uuid.uuid4()), "request": "Cut?", "status": "incomplete"},
        {"request_id": str(uuid.uuid4()), "request": "No status?"},
    ]

    job = run(start_rows_import(app=app, user=staff, rows=rows))

    assert (job.result["imported"], job.result["bad_rows"]) == (1, 3)
    assert [e["reason"] for e in job.result["errors"]] == ["response is missing"] * 3
    failed = Request.objects.get(app=app)
    assert (failed.status, failed.response, failed.error) == ("error", "", "HTTP 503")
