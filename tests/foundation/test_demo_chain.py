"""The demo chain, loaded from the MLflow registry by URI through the MLflow-model adapter."""

import time
import uuid

import pytest

from reviewapp.chains import mlflow_model, tracing
from reviewapp.chains.base import ChainError
from reviewapp.chains.demo import DOCS, content_hash, ensure_registered
from reviewapp.chains.demo.model import WORDS_PER_DELTA, deltas
from reviewapp.chains.mlflow_setup import configure


def ask(uri: str, *questions: str):
    messages = []
    for n, question in enumerate(questions):
        messages.append({"role": "user", "content": question})
        if n < len(questions) - 1:
            messages.append({"role": "assistant", "content": "(earlier answer)"})
    return mlflow_model.invoke(model_uri=uri, messages=messages, timeout_seconds=30)


def test_the_bundled_document_set_has_over_a_hundred_passages_with_unique_uris():
    text = DOCS.read_text()
    uris = [line for line in text.splitlines() if line.startswith("## ")]
    assert len(uris) >= 100
    assert len(set(uris)) == len(uris)


def test_it_answers_from_the_registry_with_the_retrieved_chunks_cited(demo_model_uri):
    result = ask(demo_model_uri, "How do I resolve a sync conflict between two devices?")

    assert demo_model_uri == "models:/reviewapp-demo@champion"
    assert result.chunks[0]["doc_uri"] == "docs://tidepool/sync#conflicts"
    assert "conflicted copy" in result.chunks[0]["content"]
    assert [c["position"] for c in result.chunks] == list(range(len(result.chunks)))
    for chunk in result.chunks:
        assert chunk["doc_uri"] in result.response
    assert "conflicted copy" in result.response


def test_the_trace_in_the_store_has_a_retriever_span_holding_the_documents(demo_model_uri):
    result = ask(demo_model_uri, "Which permission level lets someone export an evaluation set?")
    stored = configure().get_trace(result.mlflow_trace_id).to_dict()

    retrievers = [s for s in tracing.spans(stored) if tracing.span_type(s) == "RETRIEVER"]
    assert len(retrievers) == 1
    documents = tracing.attribute(retrievers[0], tracing.SPAN_OUTPUTS)
    assert [d["metadata"]["doc_uri"] for d in documents] == [c["doc_uri"] for c in result.chunks]
    assert [d["page_content"] for d in documents] == [c["content"] for c in result.chunks]
    assert result.trace["info"]["trace_id"] == result.mlflow_trace_id
    root = tracing.root_span(stored)
    assert tracing.attribute(root, tracing.SPAN_INPUTS)["messages"][0]["content"].startswith("Which")


def test_the_generation_span_records_token_counts_that_add_up(demo_model_uri):
    result = ask(demo_model_uri, "How long do sharing links stay valid?")

    llm = [s for s in tracing.spans(result.trace) if tracing.span_type(s) == "LLM"]
    assert tracing.attribute(llm[0], tracing.SPAN_USAGE)["output_tokens"] == result.response_tokens
    assert result.request_tokens > 0 and result.response_tokens > 0
    assert result.total_tokens == result.request_tokens + result.response_tokens
    assert result.latency_ms is not None


def test_it_streams_its_answer_a_few_words_at_a_time_paced_as_set(demo_model_uri, settings):
    # The suite streams at once (tests/settings.py); here at a pace a reader can see.
    settings.DEMO_STREAM_DELAY_SECONDS = 0.005
    messages = [{"role": "user", "content": "How do I resolve a sync conflict between two devices?"}]
    started = time.monotonic()
    arrivals, result = [], None
    for item in mlflow_model.stream(model_uri=demo_model_uri, messages=messages, timeout_seconds=30):
        if isinstance(item, str):
            arrivals.append((time.monotonic(), item))
        else:
            result = item

    assert len(arrivals) > 10
    assert all(len(text.split()) <= WORDS_PER_DELTA for _, text in arrivals)
    assert "".join(text for _, text in arrivals) == result.response
    # Paced like a model generating text, yet quick in all.
    assert arrivals[-1][0] - arrivals[0][0] >= 0.005 * (len(arrivals) - 1)
    assert time.monotonic() - started < 3 and result.latency_ms < 1500
    assert result.chunks[0]["doc_uri"] == "docs://tidepool/sync#conflicts"
    assert result.request_tokens > 0 and result.total_tokens == result.request_tokens + result.response_tokens
    types = {tracing.span_type(s) for s in tracing.spans(result.trace)}
    assert {"CHAIN", "AGENT", "RETRIEVER", "LLM"} <= types


def test_pieces_of_an_answer_join_back_to_it_exactly():
    text = "  From the docs:\n\n1. One two three four.  [1]\n"

    assert "".join(deltas(text)) == text
    assert deltas("") == [""]


def test_a_short_follow_up_is_answered_in_the_context_of_the_previous_question(demo_model_uri):
    result = ask(demo_model_uri, "How do I restore an earlier version of a file?", "and on Business?")

    assert "docs://tidepool/versions#version-history" in [c["doc_uri"] for c in result.chunks]


def test_a_question_the_documents_do_not_cover_gets_no_chunks_and_says_so(demo_model_uri):
    result = ask(demo_model_uri, "zxqv wqpt")

    assert result.chunks == []
    assert "could not find" in result.response


def test_registering_again_adds_no_model_version(demo_model_uri):
    client = configure().MlflowClient()
    before = client.search_model_versions("name = 'reviewapp-demo'")

    assert ensure_registered() == demo_model_uri
    assert len(client.search_model_versions("name = 'reviewapp-demo'")) == len(before)


def test_a_moved_alias_loads_the_version_it_now_points_at(demo_model_uri):
    client = configure().MlflowClient()
    champion = client.get_model_version_by_alias("reviewapp-demo", "champion")
    # Another registered model from the same logged model, so the shared alias stays put.
    name = f"alias-move-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    first = client.create_model_version(name, champion.source, run_id=champion.run_id)
    second = client.create_model_version(name, champion.source, run_id=champion.run_id)
    client.set_registered_model_alias(name, "live", first.version)

    assert mlflow_model.load(f"models:/{name}@live")[0] == f"models:/{name}/{first.version}"
    client.set_registered_model_alias(name, "live", second.version)
    result = ask(f"models:/{name}@live", "How do I pause sync?")

    used = tracing.attribute(tracing.root_span(result.trace), "reviewapp.model_uri")
    assert used == f"models:/{name}/{second.version}"
    assert result.chunks


def test_the_latest_version_can_be_named_instead_of_a_number(demo_model_uri):
    versions = configure().MlflowClient().search_model_versions("name = 'reviewapp-demo'")

    concrete, _ = mlflow_model.load("models:/reviewapp-demo/latest")

    assert concrete == f"models:/reviewapp-demo/{max(int(v.version) for v in versions)}"


@pytest.mark.parametrize(
    "uri, message",
    [
        ("s3://bucket/model", "is not a model URI"),
        ("models:/reviewapp-demo", "is not a model URI"),
        ("models:/no-such-model@champion", "is not in the model registry"),
        ("models:/reviewapp-demo/999", "is not in the model registry"),
    ],
)
def test_a_bad_model_uri_is_a_chain_error_that_says_what_is_wrong(demo_model_uri, uri, message):
    with pytest.raises(ChainError, match=message):
        mlflow_model.invoke(model_uri=uri, messages=[{"role": "user", "content": "hi"}])


def test_messages_without_a_role_are_refused_before_calling_the_chain(demo_model_uri):
    with pytest.raises(ChainError, match=r"messages\[0\]\.role must be one of"):
        mlflow_model.invoke(model_uri=demo_model_uri, messages=[{"content": "hi"}])


def test_a_changed_chain_is_logged_as_a_new_version_and_the_alias_moves_to_it(demo_model_uri):
    client = configure().MlflowClient()
    before = client.get_model_version_by_alias("reviewapp-demo", "champion")
    # As if the champion had been logged from other code or documents.
    client.set_model_version_tag("reviewapp-demo", before.version, "reviewapp.demo_hash", "older")

    ensure_registered()

    after = client.get_model_version_by_alias("reviewapp-demo", "champion")
    assert int(after.version) > int(before.version)
    assert after.tags["reviewapp.demo_hash"] == content_hash()
    assert ask(demo_model_uri, "How do I pause sync?").chunks
