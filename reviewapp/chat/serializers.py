import json

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from reviewapp.catalog.serializers import Flag, Text

from .services import CONVERSATION_ID, MAX_MESSAGE_BYTES, MAX_MESSAGES, ROLES, conversation_taken


def _content_ok(content) -> bool:
    """A string, or OpenAI content parts of type text."""
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


@extend_schema_field(
    {
        "type": "array",
        "minItems": 1,
        "maxItems": MAX_MESSAGES,
        "items": {
            "type": "object",
            "required": ["role", "content"],
            "properties": {"role": {"type": "string", "enum": list(ROLES)}, "content": {"type": "string"}},
        },
    }
)
class MessagesField(serializers.JSONField):
    """OpenAI-style chat messages; checked in InvocationIn.validate_messages."""


class InvocationIn(serializers.Serializer):
    messages = MessagesField(
        help_text='OpenAI-style chat messages, e.g. [{"role": "user", "content": "..."}]; '
        "the whole conversation so far, the last one the user's."
    )
    conversation_id = Text(
        required=False,
        allow_blank=False,
        max_length=100,
        validators=[
            RegexValidator(
                CONVERSATION_ID, "use up to 100 letters, digits and . _ : - (starting with a letter or digit)"
            )
        ],
        help_text="Groups turns; a new one is made if absent.",
    )
    stream = Flag(
        required=False, default=False, help_text="Answer as server-sent events: `delta`s, then `done`."
    )

    def validate_messages(self, messages):
        if not isinstance(messages, list):
            raise serializers.ValidationError("must be a list of messages")
        if not messages:
            raise serializers.ValidationError("must not be empty")
        if len(messages) > MAX_MESSAGES:
            raise serializers.ValidationError(f"at most {MAX_MESSAGES} messages, not {len(messages)}")
        for n, message in enumerate(messages):
            if not isinstance(message, dict):
                raise serializers.ValidationError(f"messages[{n}] must be an object with role and content")
            if message.get("role") not in ROLES:
                raise serializers.ValidationError(f"messages[{n}].role must be one of {', '.join(ROLES)}")
            if not _content_ok(message.get("content")):
                raise serializers.ValidationError(
                    f"messages[{n}].content must be a string (or a list of text parts)"
                )
        if messages[-1]["role"] != "user":
            raise serializers.ValidationError("the last message must have role user")
        last = messages[-1]["content"]
        if isinstance(last, str) and not last.strip():
            raise serializers.ValidationError("the last user message is empty")
        size = len(json.dumps(messages, ensure_ascii=False).encode())
        if size > MAX_MESSAGE_BYTES:
            raise serializers.ValidationError(f"are {size} bytes; the limit is {MAX_MESSAGE_BYTES}")
        return messages

    def validate_conversation_id(self, value):
        if not CONVERSATION_ID.match(value):
            raise serializers.ValidationError(
                "use up to 100 letters, digits and . _ : - (starting with a letter or digit)"
            )
        if conversation_taken(self.context["app"], self.context["user"], value):
            raise serializers.ValidationError("belongs to another user's conversation; start a new one")
        return value


class ChunkOut(serializers.Serializer):
    position = serializers.IntegerField()
    doc_uri = Text()
    content = Text()


class InvocationOut(serializers.Serializer):
    request_id = serializers.UUIDField()
    conversation_id = Text()
    response = Text()
    retrieved_context = ChunkOut(many=True)


class InvocationError(serializers.Serializer):
    detail = Text(help_text="What went wrong with the chain")
    request_id = serializers.UUIDField(help_text="The failed turn, logged with status error")
    conversation_id = Text()
