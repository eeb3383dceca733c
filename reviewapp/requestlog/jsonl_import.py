"""JSONL files as a source of imported rows: one JSON object per line, read as a stream."""

import json
import re
from collections.abc import Iterator
from pathlib import Path

from reviewapp.lib.parsers import MAX_DEPTH, problem_in

from .rows import BadRow, loads_storable

MAX_LINE_BYTES = 5 * 1024 * 1024

# JSON text can only give a NUL or an unpaired surrogate through an escape (a raw NUL is not JSON and
# UTF-8 cannot hold a surrogate): a line without these escapes has nothing to make storable.
_ESCAPED_UNSTORABLE = re.compile(r"\\u(?:0000|[dD][89abcdefABCDEF])|\x00")

# The sample file the import page offers and shows; tests/requestlog/test_import_sample.py
# imports it, so it always follows the rules of rows.build_row.
SAMPLE_ROWS = [
    {
        "request_id": "ticket-1001",
        "timestamp": "2026-03-01T09:30:00Z",
        "conversation_id": "ticket-1001",
        "app_version": "v1",
        "request": "How do I reset my password?",
        "response": "Open Settings, choose Security, then Reset password. A link is sent to your email [1].",
    },
    {
        "request_id": "ticket-1002",
        "timestamp": "2026-03-01T09:35:00Z",
        "conversation_id": "ticket-1002",
        "app_version": "v1",
        "request": [
            {"role": "user", "content": "Can I export my data?"},
            {"role": "assistant", "content": "Yes: as CSV or JSON."},
            {"role": "user", "content": "Where is the button?"},
        ],
        "response": "In Settings, under Data, choose Export.",
        "latency_ms": 840,
        "total_tokens": 312,
    },
    {
        "request_id": "6f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f",
        "timestamp": "2026-03-01T09:40:00Z",
        "request": "What are your opening hours?",
        "response": "",
        "status": "error",
        "error": "The model did not answer in time.",
    },
]


def sample_jsonl() -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in SAMPLE_ROWS)


def count_lines(path: Path) -> int:
    count = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            count += chunk.count(b"\n")
        handle.seek(0, 2)
        if handle.tell():
            handle.seek(-1, 2)
            if handle.read(1) != b"\n":
                count += 1
    return count


def _not_json(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _deeper_than(value, limit: int) -> bool:
    """Whether a container of `value` sits `limit` or more levels down (the root is level 0)."""
    stack = [(value, 0)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        if depth >= limit:
            return True
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False


def loads_line(text: str):
    """rows.loads_storable, the same row and the same errors, without its walk over every string
    when the text holds no escape that could give one it must make storable (nearly every line):
    then only the nesting is left to check."""
    # Substring searches first: the regex over a line of kilobytes costs more than parsing it.
    if ("\\u" in text or "\x00" in text) and _ESCAPED_UNSTORABLE.search(text):
        return loads_storable(text)
    try:
        data = json.loads(text, parse_constant=_not_json)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    # Fewer brackets than levels allowed (counted in C, strings too) cannot nest too deep.
    deep = text.count("{") + text.count("[") >= MAX_DEPTH and _deeper_than(data, MAX_DEPTH)
    problem = problem_in(data) if deep else None
    if problem:
        raise ValueError(problem)
    return data


def iter_jsonl(path: Path) -> Iterator[tuple[int, object]]:
    """(line number, row or BadRow) for each non-blank line, read as a stream."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if len(raw) > MAX_LINE_BYTES:
                yield number, BadRow(f"line is longer than {MAX_LINE_BYTES} bytes")
                continue
            try:
                text = raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                yield number, BadRow("line is not UTF-8 text")
                continue
            if not text:
                continue
            try:
                # Too deep a nesting is this row's error; text that cannot be stored is made
                # storable when the row is built (rows.py), so the turn is not lost.
                row = loads_line(text)
            except json.JSONDecodeError as exc:
                yield number, BadRow(f"not valid JSON: {exc}")
                continue
            except ValueError as exc:
                yield number, BadRow(str(exc))
                continue
            if not isinstance(row, dict):
                yield number, BadRow(f"a line must be a JSON object, not {type(row).__name__}")
                continue
            yield number, row


def sniff_jsonl(head: bytes) -> str | None:
    """Why the start of an upload shows it is not JSONL (None when it looks fine)."""
    if not head.strip():
        return "The file is empty."
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The read may have cut a character in two at its end.
        if exc.start < len(head) - 4:
            return "The file is not UTF-8 text; JSONL is one JSON object per line."
        text = head[: exc.start].decode("utf-8")
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if not first.startswith("{"):
        return "The file is not JSONL: its first line is not a JSON object."
    if "\n" in text.strip():
        try:
            json.loads(first)
        except (ValueError, RecursionError) as exc:
            return f"The file is not JSONL: line 1 is not valid JSON ({exc})."
    return None
