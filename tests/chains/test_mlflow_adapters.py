"""The demo chain through every real path: in process (MLflow model, demo) and `mlflow models serve`."""

import pytest

from reviewapp.catalog.models import App
from reviewapp.chains.adapters import ChainError, ChainResult, get_adapter
from reviewapp.requestlog.models import Request
from reviewapp.requestlog.services import run_turn

QUESTION = [{"role": "user", "content": "How do I rotate an API token?"}]


def demo_app(**fields) -> App:
    return App(slug="demo-x", name="Demo", **fields)


def test_the_mlflow_model_adapter_answers_with_chunks_tokens_and_the_trace(demo_model_uri):
    adapter = get_adapter(demo_app(adapter=App.Adapter.MLFLOW, adapter_config={"model_uri": demo_model_uri}))

    result = adapter.invoke(QUESTION, timeout=60)

    assert result.response.startswith("From the documentation:")
    assert "docs://reviewapp/api#tokens" in result.response
    assert result.chunks[0]["position"] == 0
    assert result.chunks[0]["doc_uri"] == "docs://reviewapp/api#tokens"
    assert "API token" in result.chunks[0]["content"]
    assert result.mlflow_trace_id
    assert result.trace["info"]["trace_id"] == result.mlflow_trace_id
    assert result.request_tokens > 0 and result.response_tokens > 0
    assert result.total_tokens == result.request_tokens + result.response_tokens


def test_the_demo_adapter_streams_the_bundled_demo_chains_answer(demo_model_uri):
    items = list(get_adapter(demo_app(adapter=App.Adapter.DEMO)).stream(QUESTION, timeout=60))

    *deltas, result = items
    assert isinstance(result, ChainResult)
    assert len(deltas) > 5 and all(isinstance(d, str) for d in deltas)
    assert "".join(deltas) == result.response and "docs://reviewapp/api#tokens" in result.response
    assert result.chunks and result.complete


def test_an_unknown_model_is_a_chain_error_naming_it(demo_model_uri):
    adapter = get_adapter(
        demo_app(adapter=App.Adapter.MLFLOW, adapter_config={"model_uri": "models:/no-such-model/1"})
    )

    with pytest.raises(ChainError, match="no-such-model"):
        adapter.invoke(QUESTION, timeout=30)


def test_a_uri_that_is_not_a_model_uri_is_a_chain_error():
    adapter = get_adapter(demo_app(adapter=App.Adapter.MLFLOW, adapter_config={"model_uri": "s3://bucket/x"}))

    with pytest.raises(ChainError, match="not a model URI"):
        adapter.invoke(QUESTION, timeout=30)


def test_an_mlflow_app_without_a_uri_says_so():
    with pytest.raises(ChainError, match="no MLflow model URI"):
        get_adapter(demo_app(adapter=App.Adapter.MLFLOW, adapter_config={}))


def test_a_turn_on_the_demo_chain_logs_its_chunks_tokens_and_trace(app, querier, demo_model_uri):
    turn = run_turn(app=app, user=querier, source="review_app", messages=QUESTION)

    row = Request.objects.get(pk=turn.request.pk)
    assert row.status == Request.Status.OK, row.error
    assert [c["position"] for c in row.chunks] == list(range(len(row.chunks)))
    assert row.mlflow_trace_id and row.trace
    assert row.total_tokens == row.request_tokens + row.response_tokens


def test_the_http_adapter_calls_an_mlflow_scoring_server(scoring_server):
    adapter = get_adapter(
        demo_app(adapter=App.Adapter.HTTP, adapter_config={"url": scoring_server, "kind": "mlflow"})
    )

    result = adapter.invoke(QUESTION, timeout=60)

    assert result.response.startswith("From the documentation:")
    assert "docs://reviewapp/api#tokens" in result.response


def test_the_scoring_server_takes_the_whole_history(scoring_server):
    adapter = get_adapter(
        demo_app(adapter=App.Adapter.HTTP, adapter_config={"url": f"{scoring_server}/invocations"})
    )
    history = [
        {"role": "user", "content": "How do I rotate an API token?"},
        {"role": "assistant", "content": "On the API tokens page."},
        {"role": "user", "content": "How do I give feedback on a retrieved chunk?"},
    ]

    first = adapter.invoke(QUESTION, timeout=60).response
    followup = adapter.invoke(history, timeout=60).response

    assert followup != first
    assert followup.startswith("From the documentation:")


def test_a_scoring_server_turn_is_logged_with_approximate_tokens(app, querier, scoring_server):
    app.adapter = App.Adapter.HTTP
    app.adapter_config = {"url": scoring_server, "kind": "mlflow"}

    turn = run_turn(app=app, user=querier, source="rest_api", messages=QUESTION)

    row = Request.objects.get(pk=turn.request.pk)
    assert row.status == Request.Status.OK, row.error
    # The scoring server reports no usage: the documented approximation fills it in.
    assert row.request_tokens == 8  # How do I rotate an API token ?
    assert row.response_tokens > 50
    assert row.chunks == []


def test_a_bad_payload_to_the_scoring_server_is_a_chain_error_with_its_message(scoring_server):
    adapter = get_adapter(
        demo_app(adapter=App.Adapter.HTTP, adapter_config={"url": scoring_server, "kind": "mlflow"})
    )

    with pytest.raises(ChainError, match="HTTP 400"):
        adapter.invoke([{"role": "system", "content": "no user message"}], timeout=60)
