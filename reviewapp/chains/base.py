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


# Items of a Responses API `output` that are steps of the agent, not its answer.
_RESPONSES_STEPS = {
    "function_call",
    "function_call_output",
    "file_search_call",
    "web_search_call",
    "computer_call",
}


def _responses_items(output: Any) -> list[dict] | None:
    """The `output` items of a Responses API answer (ResponsesAgent), or None when it is not one."""
    items = output.get("output") if isinstance(output, dict) else None
    if isinstance(items, list) and items and all(isinstance(i, dict) and "type" in i for i in items):
        return items
    return None


def _item_text(item: dict) -> str | None:
    content = item.get("content")
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return None
    texts = [part.get("text", part.get("refusal")) for part in content if isinstance(part, dict)]
    return "".join(t for t in texts if isinstance(t, str))


def responses_text(items: list[dict]) -> str:
    """The answer in Responses API output items: the text of the message items after the agent's last
    step (tool call or tool result); messages before it are intermediate. Reasoning is not the answer.
    An output that ends on a tool step has no text: an empty answer."""
    last_step = max((n for n, item in enumerate(items) if item.get("type") in _RESPONSES_STEPS), default=-1)
    texts = [
        _item_text(item) or ""
        for item in items[last_step + 1 :]
        if item.get("type") == "message" and item.get("role", "assistant") == "assistant"
    ]
    return "".join(texts)  # as MLflow's own `output_text` joins them


MAX_COUNT = 2_147_483_647  # the request log's integer columns


def count_or_none(value: Any) -> int | None:
    """A token count the request log can hold (a whole number from 0 to MAX_COUNT), else None.

    A chain's odd count (negative, fractional, a bool, Infinity, too large) is unknown, not a reason
    to lose its answer: the caller estimates it instead."""
    return (
        value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT else None
    )


def _count(usage: dict, *keys: str) -> int | None:
    for key in keys:
        if (value := count_or_none(usage.get(key))) is not None:
            return value
    return None


def output_usage(output: Any) -> dict:
    """ChainResult token fields from the `usage` a chain's output carries: an OpenAI chat completion's
    (prompt/completion/total tokens) or a Responses API answer's (input/output/total); {} when none.
    A count the request log cannot hold is left out (see count_or_none)."""
    if hasattr(output, "model_dump"):
        output = output.model_dump()
    usage = output.get("usage") if isinstance(output, dict) else None
    if hasattr(usage, "model_dump"):
        usage = usage.model_dump()
    if not isinstance(usage, dict):
        return {}
    counts = {
        "request_tokens": _count(usage, "prompt_tokens", "input_tokens"),
        "response_tokens": _count(usage, "completion_tokens", "output_tokens"),
        "total_tokens": _count(usage, "total_tokens"),
    }
    if counts["total_tokens"] is None and None not in (counts["request_tokens"], counts["response_tokens"]):
        counts["total_tokens"] = count_or_none(counts["request_tokens"] + counts["response_tokens"])
        if counts["total_tokens"] is None:
            return {}  # counts that add up to more than a column holds are no counts to trust
    return {key: value for key, value in counts.items() if value is not None}


def response_text(output: Any) -> str:
    """The response string in what a chain returned, whichever adapter got it.

    Accepts a string; an OpenAI chat completion, or a completion chunk (object or dict; the first
    choice's message, else its text); a ChatAgent-style {"messages": [...]} (the last assistant
    message); a ResponsesAgent answer {"output": [items]} (see responses_text);
    {"content" | "response" | "output" | "text": "..."}; any of these wrapped in an MLflow
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
        if (items := _responses_items(output)) is not None:
            return responses_text(items)
        for key in ("content", "response", "output", "text"):
            if (text := _text(output.get(key))) is not None:
                return text
    raise NoResponse(f"The chain's answer was neither a string nor a chat completion: {json_shape(output)}")
