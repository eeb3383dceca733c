"""The span tree of an MLflow trace dict, ready for templates/requestlog/trace_tree.html, which draws
it as a timeline (a waterfall): one row per span, its bar placed by its start and length in the trace.

Pure: no database, no mlflow import. Reads MLflow 3 (`span_id`, `parent_span_id`,
`start_time_unix_nano`) and MLflow 2 (`context.span_id`, `parent_id`, `start_time`) span dicts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from reviewapp.chains import tracing

# Inputs/outputs longer than this are cut in the page (the full trace stays in the record).
MAX_SHOWN_CHARS = 20_000
# An agent's steps shown per span; the rest are counted in one last line.
MAX_STEPS = 200
MAX_INDENT = 8
TIMELINE = 1000  # the timeline's width in the units of `bar_start` and `bar_length`


@dataclass
class Step:
    """One step of an agent's answer: a message, a tool call, a tool's result or its reasoning."""

    kind: str  # message | tool_call | tool_result | reasoning | more (the count of steps not shown)
    name: str  # the message's role, or the tool's name (or its call id)
    text: str

    @property
    def label(self) -> str:
        return self.kind.replace("_", " ")


@dataclass
class SpanNode:
    span_id: str
    name: str
    span_type: str
    status: str
    start_ns: int
    duration_ms: float | None
    inputs: str
    outputs: str
    error: str = ""
    depth: int = 0
    children: list[SpanNode] = field(default_factory=list)
    # An agent's steps, from its output (ResponsesAgent items or ChatAgent messages), in order.
    steps: list[Step] = field(default_factory=list)
    # Tokens the span reports (input, output, total; None where not said).
    tokens: dict = field(default_factory=dict)
    # The span's bar on the timeline, in thousandths of the whole trace's time.
    bar_start: int = 0
    bar_length: int = 0

    @property
    def is_error(self) -> bool:
        return self.status == "ERROR"

    @property
    def end_ns(self) -> int | None:
        return None if self.duration_ms is None else self.start_ns + round(self.duration_ms * 1e6)

    @property
    def shown_depth(self) -> int:
        """The indentation of the span's row (deeper spans line up at the deepest step shown)."""
        return min(self.depth, MAX_INDENT)


def _shown(value) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False, default=str)
    if len(text) > MAX_SHOWN_CHARS:
        return text[:MAX_SHOWN_CHARS] + f"\n… ({len(text) - MAX_SHOWN_CHARS} more characters)"
    return text


def _dict(value) -> dict:
    """`value` when it is a dict, else {}: an imported trace can hold anything anywhere."""
    return value if isinstance(value, dict) else {}


def _nanos(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _attribute(span: dict, key: str):
    try:
        return tracing.attribute(span, key)
    except (AttributeError, TypeError):  # attributes in a shape MLflow never writes
        return None


def _status(span: dict) -> tuple[str, str]:
    status = span.get("status")
    if isinstance(status, str):
        return status.removeprefix("STATUS_CODE_"), ""
    status = _dict(status)
    code = str(status.get("code") or status.get("status_code") or "UNSET")
    return code.removeprefix("STATUS_CODE_"), str(status.get("message") or status.get("description") or "")


def _content(content) -> str:
    if isinstance(content, list):
        return _shown(
            "".join(
                str(part.get("text", part.get("refusal", ""))) for part in content if isinstance(part, dict)
            )
        )
    return _shown(content)


def _responses_steps(items: list) -> list[Step]:
    steps = []
    names: dict[str, str] = {}  # call_id -> tool name, to name each result after its call
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "message":
            steps.append(Step("message", str(item.get("role") or "assistant"), _content(item.get("content"))))
        elif kind == "function_call":
            names[str(item.get("call_id"))] = str(item.get("name") or "")
            steps.append(
                Step("tool_call", str(item.get("name") or "(unnamed tool)"), _shown(item.get("arguments")))
            )
        elif kind == "function_call_output":
            name = names.get(str(item.get("call_id"))) or str(item.get("call_id") or "")
            steps.append(Step("tool_result", name, _content(item.get("output"))))
        elif kind == "reasoning":
            summary = item.get("summary") or []
            steps.append(
                Step("reasoning", "", _content(summary) if isinstance(summary, list) else _shown(summary))
            )
    return steps


def _chat_steps(messages: list) -> list[Step]:
    steps = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = str(message.get("role") or "")
        if role == "tool":
            steps.append(
                Step(
                    "tool_result",
                    str(message.get("name") or message.get("tool_call_id") or ""),
                    _content(message.get("content")),
                )
            )
            continue
        if message.get("content"):
            steps.append(Step("message", role, _content(message.get("content"))))
        calls = message.get("tool_calls")
        for call in calls if isinstance(calls, list) else []:
            if not isinstance(call, dict):
                continue
            function = _dict(call.get("function"))
            steps.append(
                Step(
                    "tool_call",
                    str(function.get("name") or "(unnamed tool)"),
                    _shown(function.get("arguments")),
                )
            )
    return steps


def agent_steps(outputs) -> list[Step]:
    """The steps in an agent's output; [] unless the answer took steps (a tool call or more than one
    message): a plain answer is already shown as the span's output."""
    steps: list[Step] = []
    if isinstance(outputs, dict) and isinstance(outputs.get("output"), list):
        steps = _responses_steps(outputs["output"])
    elif isinstance(outputs, dict) and isinstance(outputs.get("messages"), list):
        steps = _chat_steps(outputs["messages"])
    if not (len(steps) > 1 or any(s.kind != "message" for s in steps)):
        return []
    if len(steps) > MAX_STEPS:
        steps = [*steps[:MAX_STEPS], Step("more", "", f"… {len(steps) - MAX_STEPS} more steps")]
    return steps


def _tokens(span: dict) -> dict:
    usage = _attribute(span, tracing.SPAN_USAGE)
    if not isinstance(usage, dict):
        return {}
    counts = {key: _count(usage.get(key)) for key in ("input_tokens", "output_tokens", "total_tokens")}
    return counts if any(v is not None for v in counts.values()) else {}


def _count(value) -> int | None:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _node(span: dict) -> SpanNode:
    start = _nanos(span.get("start_time_unix_nano", span.get("start_time"))) or 0
    end = _nanos(span.get("end_time_unix_nano", span.get("end_time")))
    status, message = _status(span)
    outputs = _attribute(span, tracing.SPAN_OUTPUTS)
    return SpanNode(
        span_id=str(span.get("span_id") or _dict(span.get("context")).get("span_id") or ""),
        name=str(span.get("name") or "(unnamed span)"),
        span_type=str(_attribute(span, tracing.SPAN_TYPE) or "UNKNOWN"),
        status=status,
        start_ns=start,
        duration_ms=round((end - start) / 1e6, 2) if end else None,
        inputs=_shown(_attribute(span, tracing.SPAN_INPUTS)),
        outputs=_shown(outputs),
        error=message,
        steps=agent_steps(outputs),
        tokens=_tokens(span),
    )


def place_bars(nodes: list[SpanNode]) -> None:
    """Set each span's bar: where it starts and how long it lasts, in thousandths of the time from
    the first span's start to the last span's end. A span without an end gets a sliver at its start."""
    timed = [n for n in nodes if n.start_ns]
    if not timed:
        return
    first = min(n.start_ns for n in timed)
    last = max(max(n.end_ns or n.start_ns for n in timed), first + 1)
    whole = last - first
    for node in timed:
        start = round((node.start_ns - first) * TIMELINE / whole)
        length = round(((node.end_ns or node.start_ns) - node.start_ns) * TIMELINE / whole)
        node.bar_start = min(max(start, 0), TIMELINE - 2)
        node.bar_length = min(max(length, 2), TIMELINE - node.bar_start)


def rows(roots: list[SpanNode]) -> list[SpanNode]:
    """The spans in the order the timeline lists them: each parent, then its children, depth first."""
    out: list[SpanNode] = []

    def walk(level: list[SpanNode]) -> None:
        for node in level:
            out.append(node)
            walk(node.children)

    walk(roots)
    return out


def span_tree(trace: dict | None) -> list[SpanNode]:
    """The trace's spans as a forest (roots first, children by start time); [] without spans.

    A span whose parent is missing from the trace is shown as a root rather than dropped.
    """
    spans = _dict(_dict(trace).get("data")).get("spans")
    if not isinstance(spans, list):
        spans = []
    nodes: dict[str, SpanNode] = {}
    parents: dict[str, str] = {}
    order: list[SpanNode] = []
    for span in spans:
        if not isinstance(span, dict):
            continue
        node = _node(span)
        key = node.span_id or f"#{len(order)}"
        nodes[key] = node
        parents[key] = str(span.get("parent_span_id") or span.get("parent_id") or "")
        order.append(node)
    roots: list[SpanNode] = []
    for key, node in nodes.items():
        parent = nodes.get(parents[key])
        if parent is not None and parent is not node:
            parent.children.append(node)
        else:
            roots.append(node)

    def arrange(level: list[SpanNode], depth: int, seen: set[int], stepped: bool) -> None:
        level.sort(key=lambda n: n.start_ns)
        for node in level:
            if id(node) in seen:  # a cycle in bad data: cut it
                node.children = []
                continue
            seen.add(id(node))
            node.depth = depth
            if stepped:  # an agent span under ours returns the same steps: shown once, on top
                node.steps = []
            arrange(node.children, depth + 1, seen, stepped or bool(node.steps))

    seen: set[int] = set()
    arrange(roots, 0, seen, False)
    # Spans caught in a parent cycle (bad data) are reachable from no root: show them flat.
    for node in order:
        if id(node) not in seen:
            node.children, node.depth = [], 0
            roots.append(node)
            seen.add(id(node))
    place_bars(order)
    return roots
