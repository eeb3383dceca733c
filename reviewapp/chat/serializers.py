from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from reviewapp.chains.messages import MAX_MESSAGES, ROLES
from reviewapp.lib.serializers import Flag, Text

from .services import CONVERSATION_ID


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
    """OpenAI-style chat messages; checked by chat.services.check_turn (chains.messages)."""


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


class ChunkOut(serializers.Serializer):
    position = serializers.IntegerField()
    doc_uri = Text()
    content = Text()
    spans = serializers.ListField(child=Text(), help_text="Names of the spans that returned this passage")


class InvocationOut(serializers.Serializer):
    request_id = serializers.UUIDField()
    conversation_id = Text()
    # A partial answer is a 502 (InvocationError), never a 200.
    status = serializers.ChoiceField(choices=["ok"], help_text="ok: the whole answer")
    response = Text()
    retrieved_context = ChunkOut(many=True)
    text_altered = serializers.BooleanField(
        help_text="Characters no database can store were replaced (U+FFFD) or removed (NUL)"
    )


class InvocationError(serializers.Serializer):
    detail = Text(help_text="What went wrong with the chain")
    request_id = serializers.UUIDField(help_text="The failed turn, logged with status error or incomplete")
    conversation_id = Text()
    status = serializers.ChoiceField(
        choices=["error", "incomplete"],
        help_text="error when the chain failed; incomplete when the answer stopped part-way",
    )
    response = Text(required=False, help_text="With status incomplete: the part of the answer that came")
    retrieved_context = ChunkOut(
        many=True,
        required=False,
        help_text="With status incomplete: the passages retrieved before it stopped",
    )
    text_altered = serializers.BooleanField(
        required=False,
        help_text="With status incomplete: characters no database can store were replaced (U+FFFD) or "
        "removed (NUL)",
    )
