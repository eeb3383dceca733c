"""A ResponsesAgent of our own, asked through the invocations API as a stream, reviewed and exported:
the row's response is the agent's final answer, and its tool call shows in the trace view."""

import json

import pytest

from reviewapp.catalog.models import App
from reviewapp.chains.mlflow_setup import configure
from reviewapp.exports import services
from reviewapp.exports.selection import Filters
from reviewapp.jobs.models import Job
from reviewapp.requestlog.models import Request
from tests.chains.agent_models import register
from tests.chat.helpers import events_of
from tests.exports.helpers import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.timeout(300)]

ANSWER = "It is sunny in Lisbon."


@pytest.fixture(scope="module")
def agent_uri() -> str:
    return register("weather-agent-e2e", "responses_agent.py")


@pytest.fixture
def agent_app(app, agent_uri):
    app.adapter = App.Adapter.MLFLOW
    app.adapter_config = {"model_uri": agent_uri}
    app.save()
    return app


def test_a_streamed_agent_answer_is_reviewed_and_exported(
    celery_worker, agent_app, agent_uri, manager, as_user
):
    client = as_user(manager)
    response = client.post(
        f"/api/v1/apps/{agent_app.slug}/invocations",
        data=json.dumps({"messages": [{"role": "user", "content": "Weather in Lisbon?"}], "stream": True}),
        content_type="application/json",
    )

    events = events_of(response)
    assert [data["text"] for name, data in events if name == "delta"] == [
        "It ",
        "is ",
        "sunny ",
        "in ",
        "Lisbon.",
    ]
    name, final = events[-1]
    assert name == "done" and final["response"] == ANSWER
    req = Request.objects.get(request_id=final["request_id"])
    assert (req.response, req.status, req.app_version) == (
        ANSWER,
        Request.Status.OK,
        agent_uri.rsplit("/", 1)[1],
    )
    assert (req.request_tokens, req.response_tokens, req.total_tokens) == (11, 5, 16)
    stored = configure().get_trace(req.mlflow_trace_id)
    assert stored.info.tags["reviewapp.app"] == agent_app.slug

    page = client.get(f"/apps/{agent_app.slug}/requests/{req.request_id}/").content.decode()
    steps = page.partition('data-testid="agent-steps"')[2].partition("</ol>")[0]
    assert steps.index("tool call") < steps.index("forecast") < steps.index("tool result")
    assert "Lisbon: sunny, 24 C" in steps and "&quot;city&quot;: &quot;Lisbon&quot;" in steps

    saved = client.post(
        f"/api/v1/apps/{agent_app.slug}/feedback",
        data=json.dumps(
            {
                "request_id": str(req.request_id),
                "rating": "positive",
                "retrieval_assessments": [{"position": 0, "rating": "relevant"}],
            }
        ),
        content_type="application/json",
    )
    assert saved.status_code == 201, saved.content

    job = services.start_evaluation_set_export(
        app=agent_app, user=manager, name="weather", filters=Filters(), include_outputs=True
    )
    job = wait_until(
        lambda: Job.objects.filter(pk=job.pk, status__in=["succeeded", "failed"]).first(), "the job"
    )
    assert job.status == "succeeded", job.error
    [row] = [
        json.loads(line) for line in (job.evaluation_set_version.directory / "evaluation_set.jsonl").open()
    ]
    assert row["response"] == ANSWER and row["expected_response"] == ANSWER
    assert [c["doc_uri"] for c in row["expected_retrieved_context"]] == ["notes://lisbon"]
