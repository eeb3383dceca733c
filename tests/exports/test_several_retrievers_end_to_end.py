"""A chain of our own with two retrievers and a reranker, asked, reviewed and exported end to end:
every chunk is kept with its span, each document is rated, expected and judged once."""

import json
from pathlib import Path

import pytest

from reviewapp.catalog.models import App
from reviewapp.chains.mlflow_setup import configure, experiment_id
from reviewapp.exports import services
from reviewapp.exports.models import JudgeExport, MlflowStatus
from reviewapp.exports.selection import Filters
from reviewapp.feedback.models import MlflowSync
from reviewapp.jobs.models import Job
from reviewapp.requestlog.models import Request
from tests.exports.helpers import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.timeout(300)]

HERE = Path(__file__).resolve().parent
ROTATE = "docs://tokens#rotate"
REVOKE = "docs://tokens#revoke"
EXPIRY = "docs://tokens#expiry"


@pytest.fixture(scope="module")
def chain_uri() -> str:
    """tests/exports/two_retrievers_chain.py, logged and registered in this run's MLflow store."""
    mlflow = configure()
    with mlflow.start_run(experiment_id=experiment_id("two-retrievers-chain")):
        info = mlflow.pyfunc.log_model(
            name="model", python_model=str(HERE / "two_retrievers_chain.py"), pip_requirements=["mlflow"]
        )
    version = mlflow.register_model(info.model_uri, "two-retrievers-chain").version
    return f"models:/two-retrievers-chain/{version}"


@pytest.fixture
def rag_app(app, chain_uri):
    app.adapter = App.Adapter.MLFLOW
    app.adapter_config = {"model_uri": chain_uri}
    app.timeout_seconds = 60
    app.save()
    return app


def ask(client, slug: str) -> Request:
    response = client.post(
        f"/api/v1/apps/{slug}/invocations",
        data=json.dumps({"messages": [{"role": "user", "content": "How do I rotate a token?"}]}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    req = Request.objects.get(request_id=body["request_id"])
    # The answer names the passages reviewers will rate, with their spans.
    assert [(c["position"], c["spans"]) for c in body["retrieved_context"]] == [
        (p["position"], p["spans"]) for p in req.passages()
    ]
    return req


def rate(client, req: Request, **changes):
    return client.post(
        f"/api/v1/apps/{req.app.slug}/feedback",
        data=json.dumps({"request_id": str(req.request_id), **changes}),
        content_type="application/json",
    )


def finished(job: Job) -> Job:
    return wait_until(
        lambda: Job.objects.filter(pk=job.pk, status__in=["succeeded", "failed"]).first(), "the job"
    )


def spans_of(trace_id: str) -> dict[str, str]:
    return {s.name: s.span_id for s in configure().get_trace(trace_id).data.spans}


def test_a_reranked_answer_is_reviewed_and_exported_with_each_document_once(
    celery_worker, rag_app, manager, as_user
):
    client = as_user(manager)
    req = ask(client, rag_app.slug)

    # Every chunk is kept with its span; the reranker's duplicate of "rotate" is one passage.
    assert [(c["doc_uri"], c["span_name"]) for c in req.chunks] == [
        (ROTATE, "keyword_search"),
        (REVOKE, "keyword_search"),
        (ROTATE, "vector_search"),
        (EXPIRY, "vector_search"),
        (ROTATE, "rerank"),
        (ROTATE, "rerank"),
        (EXPIRY, "rerank"),
    ]
    assert [(p["position"], p["doc_uri"], p["spans"]) for p in req.passages()] == [
        (4, ROTATE, ["rerank"]),
        (6, EXPIRY, ["rerank"]),
    ]

    # The panel rates the passages, labelled with their span; the other chunks are shown apart.
    page = client.get(f"/apps/{rag_app.slug}/requests/{req.request_id}/feedback/").content.decode()
    rated_part, _, other_part = page.partition('data-testid="other-chunks"')
    assert rated_part.count('data-testid="chunk-spans"') == 2 and "<code>rerank</code>" in rated_part
    assert 'data-position="4"' in rated_part and 'data-position="0"' not in rated_part
    assert other_part.count('data-testid="other-chunk"') == 4
    assert "<code>keyword_search</code>" in other_part and "<code>vector_search</code>" in other_part

    # A chunk the model did not see is no passage to rate.
    refused = rate(client, req, retrieval_assessments=[{"position": 0, "rating": "relevant"}])
    assert refused.status_code == 400
    assert "positions: 4, 6" in json.dumps(refused.json())

    saved = rate(
        client,
        req,
        rating="positive",
        retrieval_assessments=[
            {"position": 4, "rating": "relevant", "comment": "the answer"},
            {"position": 6, "rating": "relevant"},
        ],
        missing_sources=[{"doc_uri": ROTATE}],  # already expected: not twice
    )
    assert saved.status_code == 201, saved.content

    # MLflow: the expectation names each document once; chunk relevance sits on the reranker span.
    sync = wait_until(
        lambda: MlflowSync.objects.filter(assessment__request=req, status="done").first(), "the write-back"
    )
    assert sync.last_error == ""
    items = [a for a in configure().get_trace(req.mlflow_trace_id).info.assessments if a.valid]
    [context] = [a for a in items if a.name == "expected_retrieved_context"]
    assert [c["doc_uri"] for c in context.value] == [ROTATE, EXPIRY]
    rerank_span = spans_of(req.mlflow_trace_id)["rerank"]
    chunk_items = [a for a in items if a.name == "chunk_relevance"]
    assert sorted((a.metadata["position"], a.span_id) for a in chunk_items) == [
        ("4", rerank_span),
        ("6", rerank_span),
    ]

    # The evaluation set: no duplicate, the answer's status beside it.
    job = finished(
        services.start_evaluation_set_export(
            app=rag_app, user=manager, name="rag", filters=Filters(), include_outputs=True
        )
    )
    assert job.status == "succeeded", job.error
    folder = job.evaluation_set_version.directory
    [row] = [json.loads(line) for line in (folder / "evaluation_set.jsonl").open()]
    assert [c["doc_uri"] for c in row["expected_retrieved_context"]] == [ROTATE, EXPIRY]
    assert [c["doc_uri"] for c in row["retrieved_context"]] == [ROTATE, EXPIRY]
    assert row["status"] == "ok"
    [record] = [json.loads(line) for line in (folder / "mlflow_records.jsonl").open()]
    assert [c["doc_uri"] for c in record["expectations"]["expected_retrieved_context"]] == [ROTATE, EXPIRY]

    # Judge examples: one chunk_relevance example per passage, logged on the reranker span.
    job = finished(
        services.start_judge_export(
            app=rag_app, user=manager, filters=Filters(), judges=["chunk_relevance"], examples_per_judge=4
        )
    )
    assert job.status == "succeeded", job.error
    examples = [json.loads(line) for line in (job.judge_export.directory / "examples.jsonl").open()]
    assert sorted((e["chunk_position"], e["value"]) for e in examples) == [(4, True), (6, True)]
    export = wait_until(
        lambda: JudgeExport.objects.filter(pk=job.judge_export.pk, mlflow_status=MlflowStatus.DONE).first(),
        "the judge export's MLflow step",
    )
    judged = [
        a
        for a in configure().get_trace(req.mlflow_trace_id).info.assessments
        if (a.metadata or {}).get("reviewapp_export") == f"judge_export:{export.job_id}"
    ]
    assert sorted((a.metadata["chunk_position"], a.span_id) for a in judged) == [
        ("4", rerank_span),
        ("6", rerank_span),
    ]


def test_the_context_span_setting_changes_what_is_rated(rag_app, manager, as_user):
    client = as_user(manager)
    req = ask(client, rag_app.slug)
    rag_app.context_span = "keyword_search"
    rag_app.save(update_fields=["context_span"])
    req = Request.objects.select_related("app").get(pk=req.pk)

    assert [(p["position"], p["doc_uri"], p["spans"]) for p in req.passages()] == [
        (0, ROTATE, ["keyword_search"]),
        (1, REVOKE, ["keyword_search"]),
    ]
    assert rate(client, req, retrieval_assessments=[{"position": 4, "rating": "relevant"}]).status_code == 400
    saved = rate(client, req, retrieval_assessments=[{"position": 1, "rating": "not_relevant"}])
    assert saved.status_code == 201, saved.content
    page = client.get(f"/apps/{rag_app.slug}/requests/{req.request_id}/feedback/").content.decode()
    rated_part = page.partition('data-testid="other-chunks"')[0]
    assert "<code>keyword_search</code>" in rated_part and "<code>rerank</code>" not in rated_part
