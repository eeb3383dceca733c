"""A real OpenAI-compatible server cuts its stream part-way: the partial answer is logged incomplete,
reviewed through the Feedback API and exported, where only a correction becomes what is expected."""

import json

from reviewapp.exports import services as exports
from reviewapp.exports.evaluation_sets import export_evaluation_set
from reviewapp.exports.selection import Filters
from reviewapp.jobs.models import Job
from reviewapp.jobs.services import run_job
from tests.chat.helpers import events_of
from tests.conftest import client_for


def ask(client, app):
    response = client.post(
        f"/api/v1/apps/{app.slug}/invocations",
        json.dumps({"messages": [{"role": "user", "content": "one two three four"}], "stream": True}),
        content_type="application/json",
    )
    assert response.status_code == 200
    return events_of(response)[-1]


def review(client, app, request_id: str, **fields):
    response = client.post(
        f"/api/v1/apps/{app.slug}/feedback",
        json.dumps({"request_id": request_id, **fields}),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content


def export(app, manager, name: str) -> Job:
    job = exports.start_evaluation_set_export(
        app=app, user=manager, name=name, filters=Filters(), include_outputs=True
    )
    return run_job(str(job.id), export_evaluation_set)


def exported_rows(app, manager, name: str) -> list[dict]:
    job = export(app, manager, name)
    assert job.status == Job.Status.SUCCEEDED, job.error
    folder = job.evaluation_set_version.directory
    return [json.loads(line) for line in (folder / "evaluation_set.jsonl").open(encoding="utf-8")]


def test_a_cut_answer_is_reviewed_and_exported_with_only_a_correction_expected(http_app, server, manager):
    server.cut_after = 3
    client = client_for(manager)

    event, cut = ask(client, http_app)
    assert (event, cut["status"], cut["response"]) == ("incomplete", "incomplete", "Echo (1 messages):")

    # A thumbs-up on the partial answer gives nothing to expect: there is nothing to export.
    review(client, http_app, cut["request_id"], rating="positive")
    job = export(http_app, manager, "cut")
    assert job.status == Job.Status.FAILED and "Nothing to export" in job.error

    # A correction does: the partial answer is the response, the correction what is expected.
    review(
        client, http_app, cut["request_id"], rating="negative", corrected_response="Echo: one two three four"
    )
    [row] = [r for r in exported_rows(http_app, manager, "cut") if r["request_id"] == cut["request_id"]]
    assert (row["response"], row["expected_response"], row["status"]) == (
        "Echo (1 messages):",
        "Echo: one two three four",
        "incomplete",
    )

    # The same server answering whole again: a complete turn, exported with its answer when liked.
    server.cut_after = None
    event, whole = ask(client, http_app)
    assert (event, whole["status"]) == ("done", "ok")
    review(client, http_app, whole["request_id"], rating="positive")
    [row] = [r for r in exported_rows(http_app, manager, "whole") if r["request_id"] == whole["request_id"]]
    assert (row["expected_response"], row["status"]) == (whole["response"], "ok")
