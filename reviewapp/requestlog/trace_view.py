"""The span tree of an MLflow trace dict, ready for templates/requestlog/trace_tree.html.

Pure: no database, no mlflow import. Reads MLflow 3 (`span_id`, `parent_span_id`,
`start_time_unix_nano`) and MLflow 2 (`context.span_id`, `parent_id`, `start_time`) span dicts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from reviewapp.chains import tracing

# Inputs/outputs longer than this are cut in the page (the full trace stays in the record).
MAX_SHOWN_CHARS = 20_000


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

    @property
    def is_error(self) -> bool:
        return self.status == "ERROR"


def _shown(value) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False, default=str)
    if len(text) > MAX_SHOWN_CHARS:
        return text[:MAX_SHOWN_CHARS] + f"\n… ({len(text) - MAX_SHOWN_CHARS} more characters)"
    return text


def _status(span: dict) -> tuple[str, str]:
    status = span.get("status") or {}
    if isinstance(status, str):
        return status.removeprefix("STATUS_CODE_"), ""
    code = str(status.get("code") or status.get("status_code") or "UNSET")
    return code.removeprefix("STATUS_CODE_"), str(status.get("message") or status.get("description") or "")


def _node(span: dict) -> SpanNode:
    start = span.get("start_time_unix_nano", span.get("start_time")) or 0
    end = span.get("end_time_unix_nano", span.get("end_time"))
    status, message = _status(span)
    return SpanNode(
        span_id=str(span.get("span_id") or (span.get("context") or {}).get("span_id") or ""),
        name=str(span.get("name") or "(unnamed span)"),
        span_type=str(tracing.attribute(span, tracing.SPAN_TYPE) or "UNKNOWN"),
        status=status,
        start_ns=int(start),
        duration_ms=round((int(end) - int(start)) / 1e6, 2) if end else None,
        inputs=_shown(tracing.attribute(span, tracing.SPAN_INPUTS)),
        outputs=_shown(tracing.attribute(span, tracing.SPAN_OUTPUTS)),
        error=message,
    )


def span_tree(trace: dict | None) -> list[SpanNode]:
    """The trace's spans as a forest (roots first, children by start time); [] without spans.

    A span whose parent is missing from the trace is shown as a root rather than dropped.
    """
    spans = ((trace or {}).get("data") or {}).get("spans") or []
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

    def arrange(level: list[SpanNode], depth: int, seen: set[int]) -> None:
        level.sort(key=lambda n: n.start_ns)
        for node in level:
            if id(node) in seen:  # a cycle in bad data: cut it
                node.children = []
                continue
            seen.add(id(node))
            node.depth = depth
            arrange(node.children, depth + 1, seen)

    seen: set[int] = set()
    arrange(roots, 0, seen)
    # Spans caught in a parent cycle (bad data) are reachable from no root: show them flat.
    for node in order:
        if id(node) not in seen:
            node.children, node.depth = [], 0
            roots.append(node)
            seen.add(id(node))
    return roots
