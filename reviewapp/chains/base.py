"""What every chain adapter returns (DESIGN.md, "The chain contract")."""

from dataclasses import dataclass, field


class ChainError(Exception):
    """The chain failed or timed out; the message is shown to the user and logged on the turn."""


@dataclass
class ChainResult:
    response: str
    # [{"position": 0, "doc_uri": "...", "content": "..."}], from the trace's RETRIEVER spans.
    chunks: list[dict] = field(default_factory=list)
    # MLflow trace as a dict (Trace.to_dict()) and its id in the tracking store, when traced.
    trace: dict | None = None
    mlflow_trace_id: str = ""
    request_tokens: int | None = None
    response_tokens: int | None = None
    total_tokens: int | None = None
    latency_ms: int | None = None
