"""Import from a real MLflow experiment with real traces, in this test run's tracking store."""

import uuid

import pytest
from django.urls import reverse

from reviewapp.chains.mlflow_setup import configure, experiment_id
from reviewapp.requestlog.models import Request
from tests.requestlog.helpers import wait_for


@pytest.fixture
def traced_experiment(app):
    """An experiment with three traced chain calls (a RETRIEVER span each); two are tagged billing.

    Linked to `app`, as staff would link it in the admin: apps import only linked experiments.
    """
    mlflow = configure()
    from mlflow.entities import Document, SpanType

    name = f"imports-{uuid.uuid4().hex[:8]}"
    exp_id = experiment_id(name)

    @mlflow.trace(span_type=SpanType.RETRIEVER)
    def retrieve(query: str):
        return [
            Document(page_content=f"Passage about {query}", metadata={"doc_uri": f"docs://{query}"}),
            Document(page_content="General terms", metadata={"doc_uri": "docs://terms"}),
        ]

    @mlflow.trace(name="chain", span_type=SpanType.CHAIN)
    def chain(messages: list[dict]) -> str:
        topic = messages[-1]["content"].split()[-1]
        if topic in ("refunds", "invoices"):
            mlflow.update_current_trace(tags={"topic": "billing"})
        docs = retrieve(topic)
        return f"See {docs[0].metadata['doc_uri']}"

    mlflow.set_experiment(experiment_id=exp_id)
    for topic in ("refunds", "invoices", "passwords"):
        chain([{"role": "user", "content": f"Tell me about {topic}"}])
    if hasattr(mlflow, "flush_trace_async_logging"):
        mlflow.flush_trace_async_logging()
    app.linked_experiments = [name]
    app.save(update_fields=["linked_experiments"])
    return name, exp_id


def start(client, app, **mlflow):
    return client.post(
        reverse("api-traces-import", args=[app.slug]), {"mlflow": mlflow}, content_type="application/json"
    )


@pytest.mark.worker
def test_traces_of_an_experiment_become_imported_requests_with_their_chunks(
    app, manager, as_user, celery_worker, traced_experiment
):
    name, exp_id = traced_experiment
    client = as_user(manager)
    response = start(client, app, experiment=name)
    assert response.status_code == 202, response.content
    job = wait_for(response.json()["job_id"])
    assert job.status == "succeeded", job.error
    assert job.result["imported"] == 3
    assert job.result["experiment_id"] == exp_id
    refunds = Request.objects.get(app=app, messages__0__content="Tell me about refunds")
    assert refunds.source == "import"
    assert refunds.response == "See docs://refunds"
    assert [c["doc_uri"] for c in refunds.chunks] == ["docs://refunds", "docs://terms"]
    assert refunds.chunks[0]["content"] == "Passage about refunds"
    assert refunds.mlflow_trace_id.startswith("tr-")
    assert refunds.request_id == uuid.UUID(refunds.mlflow_trace_id[3:])
    assert refunds.latency_ms is not None
    assert {s["name"] for s in refunds.trace["data"]["spans"]} == {"chain", "retrieve"}

    # By id this time, and again: nothing new.
    again = wait_for(start(client, app, experiment=exp_id).json()["job_id"])
    assert (again.result["imported"], again.result["already_present"]) == (0, 3)
    assert Request.objects.filter(app=app).count() == 3


@pytest.mark.worker
def test_a_search_filter_picks_which_traces_come_in(app, manager, as_user, celery_worker, traced_experiment):
    name, _ = traced_experiment
    response = start(as_user(manager), app, experiment=name, filter_string="tags.topic = 'billing'")
    job = wait_for(response.json()["job_id"])
    assert job.status == "succeeded", job.error
    assert job.result["imported"] == 2
    topics = sorted(r.messages[-1]["content"] for r in Request.objects.filter(app=app))
    assert topics == ["Tell me about invoices", "Tell me about refunds"]


def test_a_missing_experiment_is_a_400_naming_it(app, manager, as_user):
    response = start(as_user(manager), app, experiment="there-is-no-such-experiment")
    assert response.status_code == 400
    assert "there-is-no-such-experiment" in response.json()["experiment"][0]


def test_a_filter_mlflow_cannot_parse_is_a_400_naming_it(app, manager, as_user, traced_experiment):
    name, _ = traced_experiment
    response = start(as_user(manager), app, experiment=name, filter_string="this is ((( not a filter")
    assert response.status_code == 400
    assert "filter_string" in response.json()


def test_the_import_page_shows_a_missing_experiment_beside_its_field(app, manager, as_user):
    response = as_user(manager).post(
        reverse("request-import", args=[app.slug]), {"source": "mlflow", "experiment": "nope-nope"}
    )
    assert response.status_code == 400
    assert "nope-nope" in response.context["mlflow_form"].errors["experiment"][0]
