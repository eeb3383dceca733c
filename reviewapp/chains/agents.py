"""MLflow's model interfaces for chains: what a loaded pyfunc is, the input it takes, and its stream
read as text deltas.

MLflow 3 writes the interface into the logged model's metadata (`task`): `agent/v1/responses`
(ResponsesAgent: {"input": [...]} in, Responses API output items out), `agent/v2/chat` (ChatAgent:
{"messages": [...]} both ways) and `agent/v1/chat` (ChatModel: chat completions). Anything else is a
plain pyfunc chat model, called with {"messages": [...]}. Pure: no mlflow import.
"""

import json
from typing import Any

from .base import ChainError, _text, output_usage, response_text, responses_text
from .describe import clean_text

RESPONSES_AGENT = "agent/v1/responses"
CHAT_AGENT = "agent/v2/chat"
CHAT_MODEL = "agent/v1/chat"
PYFUNC = "pyfunc"

_LOADERS = {
    "mlflow.pyfunc.loaders.responses_agent": RESPONSES_AGENT,
    "mlflow.pyfunc.loaders.chat_agent": CHAT_AGENT,
    "mlflow.pyfunc.loaders.chat_model": CHAT_MODEL,
}
_RESPONSES_ROLES = {"user", "assistant", "system", "developer"}
# The call id given to a tool call or result that came without one (both interfaces require one).
UNKNOWN_CALL = "unknown"


def interface(model) -> str:
    """Which interface a loaded pyfunc model has: its metadata's task, else its pyfunc loader."""
    meta = getattr(model, "metadata", None)
    task = (getattr(meta, "metadata", None) or {}).get("task")
    if task in (RESPONSES_AGENT, CHAT_AGENT, CHAT_MODEL):
        return task
    flavor = (getattr(meta, "flavors", None) or {}).get("python_function") or {}
    return _LOADERS.get(flavor.get("loader_module"), PYFUNC)


def _raw(model):
    for unwrap in ("get_raw_model", "unwrap_python_model"):
        try:
            return getattr(model, unwrap)()
        except Exception:  # this wrapper has no such accessor: try the next
            continue
    return None


def streams(model) -> bool:
    """Whether the model implements predict_stream (MLflow's base classes only raise NotImplemented)."""
    raw = _raw(model)
    if raw is None:
        return False
    from mlflow.pyfunc import ChatAgent, ChatModel, PythonModel, ResponsesAgent

    mine = getattr(type(raw), "predict_stream", None)
    return mine is not None and all(
        mine is not getattr(base, "predict_stream", None)
        for base in (PythonModel, ChatModel, ChatAgent, ResponsesAgent)
    )


def _content_text(content: Any) -> str:
    text = _text(content)
    if text is not None:
        return text
    if isinstance(content, list):  # parts without text (images): their text parts only
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def model_input(kind: str, messages: list[dict]) -> dict:
    """The model's input for a conversation of OpenAI-style chat messages."""
    if kind == RESPONSES_AGENT:
        return {"input": responses_input(messages)}
    if kind == CHAT_AGENT:
        return {"messages": chat_agent_messages(messages)}
    return {"messages": messages}


def _tool_calls(message: dict) -> list[dict]:
    """The message's OpenAI tool calls that name a function, as [{id, name, arguments (a string)}]."""
    calls = []
    for call in message.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and function.get("name"):
            arguments = function.get("arguments")
            calls.append(
                {
                    "id": str(call.get("id") or UNKNOWN_CALL),
                    "name": str(function["name"]),
                    "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments or {}),
                }
            )
    return calls


def chat_agent_messages(messages: list[dict]) -> list[dict]:
    """Chat messages as ChatAgent messages: text content, and a tool message named after the call it
    answers (ChatAgent requires `name` and `tool_call_id` on tool messages; OpenAI has no `name`)."""
    names: dict[str, str] = {}  # call id -> tool name
    out = []
    for message in messages:
        message = {**message, "content": _content_text(message.get("content"))}
        if message.get("tool_calls"):
            calls = _tool_calls(message)
            names.update((c["id"], c["name"]) for c in calls)
            message["tool_calls"] = [
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": c["name"], "arguments": c["arguments"]},
                }
                for c in calls
            ] or None
        if message.get("role") == "tool":
            call_id = str(message.get("tool_call_id") or UNKNOWN_CALL)
            message.update(tool_call_id=call_id, name=message.get("name") or names.get(call_id) or "tool")
        out.append(message)
    return out


def responses_input(messages: list[dict]) -> list[dict]:
    """Chat messages as Responses API input items: text content; an assistant's tool calls become
    function_call items after its text, and a tool message the output of the call it answers."""
    items = []
    for message in messages:
        text = _content_text(message.get("content"))
        role = message.get("role")
        if role not in _RESPONSES_ROLES:  # a tool's result
            call_id = str(message.get("tool_call_id") or UNKNOWN_CALL)
            items.append({"type": "function_call_output", "call_id": call_id, "output": text})
            continue
        calls = _tool_calls(message) if role == "assistant" else []
        if text or not calls:  # a turn that only called tools has no text to keep
            items.append({"role": role, "content": text})
        for call in calls:
            items.append(
                {
                    "type": "function_call",
                    "call_id": call["id"],
                    "name": call["name"],
                    "arguments": call["arguments"],
                }
            )
    return items


def _dump(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(exclude_none=True)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return value


class StreamReader:
    """Reads a model's predict_stream events: `feed(event)` gives the text deltas in it; `output()`
    is the whole answer so far in the interface's own shape (for the trace), `text()` its response."""

    def __init__(self, kind: str):
        self.kind = kind
        self.parts: list[str] = []
        self.items: list[dict] = []  # ResponsesAgent output items
        self.streamed_items: set[str] = set()
        self.messages: list[dict] = []  # ChatAgent messages, merged by id
        self.usage: dict | None = None

    def feed(self, event: Any) -> list[str]:
        event = _dump(event)
        if isinstance(event, str):
            deltas = [event]
        elif not isinstance(event, dict):
            deltas = []
        elif self.kind == RESPONSES_AGENT:
            deltas = self._responses_event(event)
        elif self.kind == CHAT_AGENT:
            deltas = self._chat_agent_chunk(event)
        else:
            deltas = self._completion_chunk(event)
        deltas = [d for d in deltas if d]
        self.parts.extend(deltas)
        return deltas

    def _responses_event(self, event: dict) -> list[str]:
        kind = event.get("type")
        if kind == "response.output_text.delta" and isinstance(event.get("delta"), str):
            self.streamed_items.add(str(event.get("item_id")))
            return [event["delta"]]
        if kind == "response.output_item.done" and isinstance(event.get("item"), dict):
            item = event["item"]
            self.items.append(item)
            if item.get("type") == "message" and str(item.get("id")) not in self.streamed_items:
                return [responses_text([item])]  # an agent that sends whole messages, not deltas
        elif kind == "response.completed" and isinstance(event.get("response"), dict):
            self.usage = event["response"].get("usage") or self.usage
        elif kind in ("error", "response.failed", "response.error"):
            detail = event.get("message") or (event.get("error") or {}).get("message") or kind
            raise ChainError(f"The chain failed while answering: {clean_text(str(detail), 500)}")
        return []

    def _chat_agent_chunk(self, chunk: dict) -> list[str]:
        self.usage = chunk.get("usage") or self.usage
        delta = chunk.get("delta")
        if not isinstance(delta, dict):
            return []
        key = delta.get("id")
        found = next((m for m in self.messages if key is not None and m.get("id") == key), None)
        if found is None:
            found = {k: v for k, v in delta.items() if k not in ("content", "tool_calls")}
            found["content"] = None
            self.messages.append(found)
        text = delta.get("content")
        if isinstance(text, str):
            found["content"] = (found.get("content") or "") + text
        if delta.get("tool_calls"):
            found["tool_calls"] = [*(found.get("tool_calls") or []), *delta["tool_calls"]]
        if found.get("role", "assistant") == "assistant" and isinstance(text, str):
            return [text]
        return []

    def _completion_chunk(self, chunk: dict) -> list[str]:
        self.usage = chunk.get("usage") or self.usage
        choices = chunk.get("choices")
        if isinstance(choices, list):
            first = choices[0] if choices and isinstance(choices[0], dict) else {}
            delta = first.get("delta") or {}
            return (
                [delta["content"]]
                if isinstance(delta, dict) and isinstance(delta.get("content"), str)
                else []
            )
        try:
            return [response_text(chunk)]
        except ChainError:
            return []

    def output(self) -> Any:
        usage = {"usage": self.usage} if self.usage else {}
        if self.kind == RESPONSES_AGENT:
            return (
                {"output": self.items, **usage}
                if self.items
                else {"output_text": "".join(self.parts), **usage}
            )
        if self.kind == CHAT_AGENT:
            return {"messages": self.messages, **usage}
        if self.kind == CHAT_MODEL or usage:
            message = {"role": "assistant", "content": "".join(self.parts)}
            return {"object": "chat.completion", "choices": [{"index": 0, "message": message}], **usage}
        return "".join(self.parts)

    def text(self) -> str:
        """The response: by the interface's rule over what came, else the deltas joined."""
        if self.kind == RESPONSES_AGENT and any(i.get("type") == "message" for i in self.items):
            return responses_text(self.items)
        if self.kind == CHAT_AGENT and self.messages:
            try:
                return response_text({"messages": self.messages})
            except ChainError:  # no assistant message: what was streamed
                pass
        return "".join(self.parts)

    def usage_counts(self) -> dict:
        return output_usage({"usage": self.usage})
