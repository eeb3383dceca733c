"""Rows and traces in the shapes the importers read, and a wait for background jobs."""

import json
import time
import uuid

from reviewapp.jobs.models import Job


def span(span_id, name, span_type, inputs, outputs, start, end, parent=None):
    return {
        "span_id": span_id,
        "parent_span_id": parent,
        "name": name,
        "start_time_unix_nano": start,
        "end_time_unix_nano": end,
        "status": {"code": "STATUS_CODE_OK", "message": ""},
        "attributes": {
            "mlflow.spanType": json.dumps(span_type),
            "mlflow.spanInputs": json.dumps(inputs),
            "mlflow.spanOutputs": json.dumps(outputs),
        },
    }


def trace_dict(question: str, answer: str, trace_id: str | None = None, docs=(("docs://a", "Alpha text"),)):
    """An MLflow 3 trace dict (Trace.to_dict()) with a root chain span and a RETRIEVER span."""
    trace_id = trace_id or f"tr-{uuid.uuid4().hex}"
    documents = [{"page_content": text, "metadata": {"doc_uri": uri}, "id": None} for uri, text in docs]
    return {
        "info": {
            "trace_id": trace_id,
            "request_time": "2026-03-01T10:00:00.000Z",
            "state": "OK",
            "execution_duration_ms": 120,
            "trace_metadata": {
                "mlflow.trace.tokenUsage": json.dumps(
                    {"input_tokens": 11, "output_tokens": 7, "total_tokens": 18}
                )
            },
        },
        "data": {
            "spans": [
                span(
                    "root",
                    "chain",
                    "CHAIN",
                    {"messages": [{"role": "user", "content": question}]},
                    answer,
                    0,
                    120_000_000,
                ),
                span(
                    "ret",
                    "retrieve",
                    "RETRIEVER",
                    {"query": question},
                    documents,
                    1_000_000,
                    5_000_000,
                    parent="root",
                ),
            ]
        },
    }


def row(i: int, **extra) -> dict:
    data = {
        "request_id": str(uuid.UUID(int=i + 1)),
        "request": {"messages": [{"role": "user", "content": f"Question number {i}"}]},
        "response": f"Answer number {i}",
        "timestamp": 1767225600 + i,
        "conversation_id": f"conv-{i // 3}",
    }
    data.update(extra)
    return data


def jsonl(rows) -> bytes:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows).encode()


def wait_for(job_id, timeout: float = 120, poll: float = 0.2) -> Job:
    """The job once it has finished, read every `poll` seconds for up to `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job_id)
        if job.is_finished:
            return job
        time.sleep(poll)
    raise AssertionError(f"job {job_id} still {job.status} after {timeout} s")
