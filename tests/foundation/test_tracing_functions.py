"""reviewapp.chains.tracing: trace dicts → chunks and token usage."""

import json

from reviewapp.chains import tracing


def span(span_id, span_type, start, parent=None, outputs=None, usage=None, encode=True):
    attributes = {"mlflow.spanType": span_type}
    if outputs is not None:
        attributes["mlflow.spanOutputs"] = outputs
    if usage is not None:
        attributes["mlflow.chat.tokenUsage"] = usage
    if encode:  # as Trace.to_dict() writes them
        attributes = {key: json.dumps(value) for key, value in attributes.items()}
    return {
        "span_id": span_id,
        "parent_span_id": parent,
        "start_time_unix_nano": start,
        "attributes": attributes,
    }


def documents(chunk: dict) -> dict:
    """A chunk without its span (tests/requestlog/test_passages.py covers the span keys)."""
    return {key: chunk[key] for key in ("position", "doc_uri", "content")}


def test_chunks_come_from_every_retriever_span_in_start_order_numbered_across_them():
    trace = {
        "data": {
            "spans": [
                span("c", "RETRIEVER", 30, "a", [{"content": "third", "metadata": {"doc_uri": "u3"}}]),
                span("a", "CHAIN", 10),
                span(
                    "b",
                    "RETRIEVER",
                    20,
                    "a",
                    [
                        {"page_content": "first", "metadata": {"doc_uri": "u1"}},
                        {"page_content": "second", "metadata": {}},
                    ],
                ),
                span("d", "LLM", 40, "a", "not documents"),
            ]
        }
    }

    assert [documents(c) for c in tracing.chunks(trace)] == [
        {"position": 0, "doc_uri": "u1", "content": "first"},
        {"position": 1, "doc_uri": "", "content": "second"},
        {"position": 2, "doc_uri": "u3", "content": "third"},
    ]


def test_chunks_accept_attributes_that_are_already_decoded():
    trace = {
        "spans": [
            span(
                "a",
                "RETRIEVER",
                1,
                outputs=[{"page_content": "x", "metadata": {"doc_uri": "u"}}],
                encode=False,
            )
        ]
    }

    assert [documents(c) for c in tracing.chunks(trace)] == [{"position": 0, "doc_uri": "u", "content": "x"}]


def test_a_trace_without_retriever_spans_has_no_chunks():
    assert tracing.chunks({"data": {"spans": [span("a", "CHAIN", 1)]}}) == []
    assert tracing.chunks(None) == []
    assert tracing.root_span(None) is None


def test_token_usage_prefers_the_trace_level_aggregate():
    trace = {
        "info": {
            "trace_metadata": {
                "mlflow.trace.tokenUsage": json.dumps(
                    {"input_tokens": 7, "output_tokens": 5, "total_tokens": 12}
                )
            }
        },
        "data": {
            "spans": [span("a", "LLM", 1, usage={"input_tokens": 1, "output_tokens": 1, "total_tokens": 2})]
        },
    }

    assert tracing.token_usage(trace) == {"request_tokens": 7, "response_tokens": 5, "total_tokens": 12}


def test_token_usage_sums_the_spans_when_the_trace_has_no_aggregate():
    trace = {
        "data": {
            "spans": [
                span("a", "LLM", 1, usage={"input_tokens": 10, "output_tokens": 4}),
                span("b", "LLM", 2, usage={"input_tokens": 3, "output_tokens": 2}),
            ]
        }
    }

    assert tracing.token_usage(trace) == {"request_tokens": 13, "response_tokens": 6, "total_tokens": 19}


def test_token_usage_is_unknown_without_usage():
    assert tracing.token_usage({"data": {"spans": []}}) == {
        "request_tokens": None,
        "response_tokens": None,
        "total_tokens": None,
    }
