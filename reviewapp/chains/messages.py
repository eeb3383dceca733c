"""The chain contract's input: OpenAI-style chat messages, and the one check of them.

`check_messages` holds every rule a list of messages must meet (shape, roles, limits) and says
which message breaks which rule; `check_question` adds what a new turn needs (the user asks last).
Both raise django.core.exceptions.ValidationError, so forms, serializers and the trace import
(requestlog.rows) show the same words.
"""

import json

from django.core.exceptions import ValidationError

ROLES = ("system", "user", "assistant", "tool", "developer")
# What a turn may carry (DESIGN.md, "Bad input"): messages, and bytes of their JSON.
MAX_MESSAGES = 200
MAX_MESSAGE_BYTES = 100_000


def _content_ok(content) -> bool:
    """A string, or OpenAI content parts that are all text."""
    if isinstance(content, str):
        return True
    return (
        isinstance(content, list)
        and bool(content)
        and all(
            isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
            for part in content
        )
    )


def messages_size(messages: list) -> int:
    """Bytes of the messages as UTF-8 JSON: what the limit counts."""
    return len(json.dumps(messages, ensure_ascii=False).encode())


def check_messages(
    messages, *, max_messages: int | None = MAX_MESSAGES, max_bytes: int | None = MAX_MESSAGE_BYTES
) -> None:
    """Raise ValidationError naming the first thing wrong with `messages`, e.g.
    "messages[2].role must be one of system, user, ...". A limit of None is not checked (an import
    of recorded history keeps what was sent, whatever its size)."""
    if not isinstance(messages, list):
        raise ValidationError("messages must be a list", code="invalid")
    if not messages:
        raise ValidationError("messages must not be empty", code="empty")
    if max_messages is not None and len(messages) > max_messages:
        raise ValidationError(f"at most {max_messages} messages, not {len(messages)}", code="too_many")
    for n, message in enumerate(messages):
        if not isinstance(message, dict):
            raise ValidationError(f"messages[{n}] must be an object with role and content", code="invalid")
        if message.get("role") not in ROLES:
            raise ValidationError(f"messages[{n}].role must be one of {', '.join(ROLES)}", code="role")
        if not _content_ok(message.get("content")):
            raise ValidationError(
                f"messages[{n}].content must be a string (or a list of text parts)", code="content"
            )
    if max_bytes is not None and (size := messages_size(messages)) > max_bytes:
        raise ValidationError(f"messages are {size} bytes; the limit is {max_bytes}", code="too_large")


def check_question(messages) -> None:
    """`check_messages`, and the last message is the user's and says something: a turn to answer."""
    check_messages(messages)
    last = messages[-1]
    if last["role"] != "user":
        raise ValidationError("the last message must have role user", code="last_role")
    if isinstance(last["content"], str) and not last["content"].strip():
        raise ValidationError("the last user message is empty", code="last_empty")
