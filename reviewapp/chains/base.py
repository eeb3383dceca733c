"""What every chain adapter returns, and how a chain's output becomes the response (DESIGN.md,
"The chain contract")."""

from dataclasses import dataclass, field
from typing import Any

from .describe import json_shape


class ChainError(Exception):
    """The chain failed or timed out; the message is shown to the user and logged on the turn.

    `trace` / `mlflow_trace_id`: the trace the failed call left (an ERROR trace), linked to the turn.
    """

    def __init__(self, message: str = "", *, trace: dict | None = None, mlflow_trace_id: str = ""):
        super().__init__(message)
        self.trace = trace
        self.mlflow_trace_id = mlflow_trace_id


class ChainTimeout(ChainError):
    """The chain did not answer within the app's timeout."""


class NoResponse(ChainError, ValueError):
    """The chain's output holds no response text. A ValueError too: to an importer of recorded
    outputs it is bad data, not a failed call."""


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
    # The chain's own time, without loading the model (load_ms, when this call loaded it).
    latency_ms: int | None = None
    load_ms: int | None = None
    # False when the answer stopped part-way (a stream cut off): `response` is what came, and
    # `incomplete_reason` says why; the turn is logged as incomplete.
    complete: bool = True
    incomplete_reason: str = ""
    # The version that answered, when the adapter knows it (a registry model's version); else
    # the app's version label is logged.
    app_version: str = ""


def _text(content: Any) -> str | None:
    """Message content as text: a string, or the joined text of OpenAI content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and content:
        texts = [part.get("text") for part in content if isinstance(part, dict)]
        if len(texts) == len(content) and all(isinstance(text, str) for text in texts):
            return "".join(texts)
    return None


def _choice_text(choice: Any) -> str | None:
    if not isinstance(choice, dict):
        return None
    message = choice.get("message") or choice.get("delta")
    text = _text(message.get("content")) if isinstance(message, dict) else None
    return text if text is not None else _text(choice.get("text"))


def response_text(output: Any) -> str:
    """The response string in what a chain returned, whichever adapter got it.

    Accepts a string; an OpenAI chat completion, or a completion chunk (object or dict; the first
    choice's message, else its text); a ChatAgent-style {"messages": [...]} (the last assistant
    message); {"content" | "response" | "output" | "text": "..."}; any of these wrapped in an MLflow
    scoring server's {"predictions": ...} or in a one-item list. Content given as OpenAI text parts
    is joined. Raises NoResponse describing the output's shape, never its content: the output may
    come from someone else's service, and the message is shown to users.
    """
    if hasattr(output, "model_dump"):  # openai / pydantic objects
        output = output.model_dump()
    if hasattr(output, "tolist"):  # numpy / pandas results of pyfunc predict
        output = output.tolist()
    if isinstance(output, dict) and "predictions" in output:
        return response_text(output["predictions"])
    if isinstance(output, list | tuple) and len(output) == 1:
        return response_text(output[0])
    if isinstance(output, str):
        return output
    if isinstance(output, dict):
        choices = output.get("choices")
        if isinstance(choices, list) and choices and (text := _choice_text(choices[0])) is not None:
            return text
        messages = output.get("messages")
        if isinstance(messages, list):
            for message in reversed(messages):
                if isinstance(message, dict) and message.get("role") == "assistant":
                    content = message.get("content")
                    # An assistant turn of tool calls only has no text: an empty answer.
                    text = "" if content is None else _text(content)
                    if text is not None:
                        return text
                    break
        for key in ("content", "response", "output", "text"):
            if (text := _text(output.get(key))) is not None:
                return text
    raise NoResponse(f"The chain's answer was neither a string nor a chat completion: {json_shape(output)}")
