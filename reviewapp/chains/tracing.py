"""Pure functions over MLflow traces as dicts (`Trace.to_dict()`, or the JSON MLflow exports).

Used by the MLflow-model adapter for the traces it records and by the import of MLflow traces.
In a trace dict, span attribute values are JSON-encoded strings (`"\\"RETRIEVER\\""`); values that
are already decoded are accepted too.
"""

import base64
import json
import re
from typing import Any

from .base import count_or_none

SPAN_TYPE = "mlflow.spanType"
SPAN_INPUTS = "mlflow.spanInputs"
SPAN_OUTPUTS = "mlflow.spanOutputs"
SPAN_USAGE = "mlflow.chat.tokenUsage"
TRACE_USAGE = "mlflow.trace.tokenUsage"


def decode_json(value: Any) -> Any:
    """MLflow stores span attributes and previews as JSON strings; anything else is kept."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def spans(trace: dict | None) -> list[dict]:
    """The trace's spans in start order."""
    trace = trace or {}
    found = (trace.get("data") or {}).get("spans") or trace.get("spans") or []
    return sorted(found, key=lambda s: int(s.get("start_time_unix_nano") or s.get("start_time_ns") or 0))


def attribute(span: dict, key: str) -> Any:
    attributes = span.get("attributes") or {}
    if isinstance(attributes, list):  # OTLP JSON: [{"key": ..., "value": {"stringValue": ...}}]
        attributes = {a.get("key"): next(iter((a.get("value") or {}).values()), None) for a in attributes}
    return decode_json(attributes.get(key))


def span_type(span: dict) -> str:
    return str(attribute(span, SPAN_TYPE) or span.get("span_type") or "")


def root_span(trace: dict | None) -> dict | None:
    return next((s for s in spans(trace) if not s.get("parent_span_id")), None)


def span_id(span: dict) -> str:
    """The span's id as MLflow's Span entities give it (16 hex digits): `Trace.to_dict()` writes it
    base64-encoded (OTLP JSON), older exports as hex."""
    raw = str(span.get("span_id") or (span.get("context") or {}).get("span_id") or "")
    if re.fullmatch(r"(0x)?[0-9a-fA-F]{16}", raw):
        return raw.removeprefix("0x").lower()
    try:
        decoded = base64.b64decode(raw, validate=True)
    except ValueError:
        return raw
    return decoded.hex() if len(decoded) == 8 else raw


# The spans whose documents are retrieved chunks, by span type only (a span's name is the chain's
# choice): retrievers, and rerankers, which return what they kept of the retrievers' documents.
CHUNK_SPAN_TYPES = ("RETRIEVER", "RERANKER")


def chunks(trace: dict | None) -> list[dict]:
    """The documents of the RETRIEVER and RERANKER spans, in retrieval order, each with its span:
    [{position, doc_uri, content, span_name, span_id, span_type}].

    `position` numbers the whole list, so it never changes; the same document returned by two
    spans is two chunks here (requestlog.passages merges them for rating).
    """
    out = []
    for span in spans(trace or {}):
        kind = span_type(span)
        if kind not in CHUNK_SPAN_TYPES:
            continue
        documents = attribute(span, SPAN_OUTPUTS)
        if isinstance(documents, dict):  # a retriever returning {"documents": [...]}
            documents = documents.get("documents") or []
        name, ident = str(span.get("name") or ""), span_id(span)  # once per span, not per document
        for document in documents if isinstance(documents, list) else []:
            if isinstance(document, str):
                document = {"page_content": document}
            if not isinstance(document, dict):
                continue
            metadata = document.get("metadata") or {}
            if not isinstance(metadata, dict):
                metadata = {}
            content = document.get("page_content", document.get("content", ""))
            out.append(
                {
                    "position": len(out),
                    "doc_uri": str(metadata.get("doc_uri") or document.get("doc_uri") or ""),
                    "content": "" if content is None else str(content),
                    "span_name": name,
                    "span_id": ident,
                    "span_type": kind,
                }
            )
    return out


def _int_or_none(value: Any) -> int | None:
    """A count from a trace (a number, or digits as text) the request log can hold, else None."""
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,10}", value.strip()):
        value = int(value)
    return count_or_none(value)


def token_usage(trace: dict | None) -> dict:
    """{request_tokens, response_tokens, total_tokens} from the trace's usage (None where unknown).

    The trace-level aggregate MLflow writes is preferred; otherwise the spans' usage is summed.
    """
    info = (trace or {}).get("info") or {}
    usage = decode_json((info.get("trace_metadata") or {}).get(TRACE_USAGE)) or info.get("token_usage")
    if not isinstance(usage, dict):
        usage = None
        for span in spans(trace or {}):
            span_usage = attribute(span, SPAN_USAGE)
            if isinstance(span_usage, dict):
                usage = usage or {}
                for key, value in span_usage.items():
                    if (count := _int_or_none(value)) is not None:
                        usage[key] = usage.get(key, 0) + count
    usage = usage or {}
    request = _int_or_none(usage.get("input_tokens"))
    response = _int_or_none(usage.get("output_tokens"))
    total = _int_or_none(usage.get("total_tokens"))
    if total is None and request is not None and response is not None:
        total = count_or_none(request + response)
    return {
        "request_tokens": count_or_none(request),
        "response_tokens": count_or_none(response),
        "total_tokens": total,
    }
