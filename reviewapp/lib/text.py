"""Text a chain or an imported row gave, made storable by every database we run on.

PostgreSQL refuses NUL in text and in jsonb, and no encoding can write an unpaired surrogate
("\\ud800"), so SQLite refuses that too. What a chain said is kept as nearly as it can be: NUL is
removed, an unpaired surrogate becomes U+FFFD (NaN and Infinity, which are not JSON, become null),
and the caller is told the text was altered so the record can say so.
"""

import math
import re
from typing import Any

REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _replace(match: re.Match) -> str:
    return "" if match.group() == "\x00" else REPLACEMENT


def storable(text: str) -> tuple[str, bool]:
    """`text` with NUL removed and unpaired surrogates replaced, and whether anything changed.

    A pair of surrogates (which json.loads can produce from "\\ud83d\\ude00") is joined into the
    character it stands for rather than replaced.
    """
    if not _UNSTORABLE.search(text):
        return text, False
    joined = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    cleaned = _UNSTORABLE.sub(_replace, joined)
    return cleaned, cleaned != text


def _storable_scalar(value: Any) -> tuple[Any, bool]:
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None, True  # NaN and Infinity are not JSON: both databases refuse them
    return value, False


def storable_json(value: Any) -> tuple[Any, bool]:
    """A JSON-like value (dicts, lists, strings, scalars) with every string and key made storable,
    and NaN or Infinity made null.

    Iterative, so a deeply nested trace cannot exhaust the stack; unchanged values are returned as
    they are (no copy).
    """
    if not isinstance(value, dict | list | tuple):
        return _storable_scalar(value)
    altered = False
    # Post-order over containers: a stack of (container, its cleaned copy, items left).
    root: list = [None]
    stack = [(value, root, 0)]
    while stack:
        node, parent, slot = stack.pop()
        if isinstance(node, dict):
            copy: dict | list = {}
            for key, item in node.items():
                if isinstance(key, str):
                    clean_key, changed = storable(key)
                    altered |= changed
                else:
                    clean_key = key
                copy[clean_key] = item
            for key, item in copy.items():
                if isinstance(item, dict | list | tuple):
                    stack.append((item, copy, key))
                else:
                    copy[key], changed = _storable_scalar(item)
                    altered |= changed
        else:
            copy = list(node)
            for index, item in enumerate(copy):
                if isinstance(item, dict | list | tuple):
                    stack.append((item, copy, index))
                else:
                    copy[index], changed = _storable_scalar(item)
                    altered |= changed
        parent[slot] = copy
    return (root[0] if altered else value), altered
