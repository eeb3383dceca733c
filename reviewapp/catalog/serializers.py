from django.core.validators import RegexValidator
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from reviewapp.lib.serializers import StrictSerializer, Text

from . import rules
from .markdown import render_markdown
from .models import App, AppVersion, Level, ReviewInstructions


@extend_schema_field({"type": "string", "enum": Level.names})
class LevelName(Text):
    """A level by name; Level.parse (in the service) says what is wrong with another."""


@extend_schema_field(
    {
        "type": "string",
        "maxLength": 300,
        "anyOf": [{"format": "email"}, {"pattern": r"^(?:[Gg][Rr][Oo][Uu][Pp]):\s*\S"}],
    }
)
class PrincipalName(Text):
    """An email address or group:<name>; parse_principal (in the service) says what is wrong."""


@extend_schema_field(
    {"type": "string", "nullable": True, "pattern": rules.PRICE_PATTERN, "description": rules.PRICE_HELP}
)
class Price(Text):
    """A price per 1,000 tokens as decimal text, e.g. "0.0025"; null or blank: no price."""

    def __init__(self, **kwargs):
        super().__init__(
            allow_null=True,
            allow_blank=True,
            required=False,
            # The text as sent, never trimmed: what the pattern in the schema says is what is taken.
            trim_whitespace=False,
            validators=rules.PRICE_TEXT,
            help_text=rules.PRICE_HELP,
            **kwargs,
        )


# --- input ---
# Limits are the rules' own validators (catalog.rules): the schema shows them, the words are the same.


class AppUpdateInput(StrictSerializer):
    name = Text(required=False, validators=rules.NAME)
    description = Text(allow_blank=True, required=False, validators=rules.DESCRIPTION)
    adapter = serializers.ChoiceField(choices=App.Adapter.choices, required=False)
    adapter_config = serializers.DictField(required=False, help_text=(
        'mlflow: {"model_uri"}, checked in the tracking store when saved; http: {"url", "kind": "openai"|"mlflow", "model"?, "secret_header"?, '
        '"secret_env"?}: secret_env is the NAME of an environment variable, never the secret'
    ))  # fmt: skip
    version = Text(required=False, validators=rules.VERSION, help_text=rules.VERSION_FROM_REGISTRY)
    timeout_seconds = serializers.IntegerField(required=False, validators=rules.TIMEOUT)
    context_span = Text(
        allow_blank=True, required=False, validators=rules.CONTEXT_SPAN, help_text=rules.CONTEXT_SPAN_WORDS
    )
    reasons = serializers.ListField(
        child=Text(allow_blank=True, validators=rules.REASON), required=False, validators=rules.REASONS
    )
    price_input_per_1k = Price()
    price_output_per_1k = Price()
    example_questions = serializers.ListField(
        child=Text(allow_blank=True, validators=rules.EXAMPLE_QUESTION),
        required=False,
        validators=rules.EXAMPLE_QUESTIONS,
        help_text="Questions offered to reviewers on an empty chat",
    )


class AppCreateInput(AppUpdateInput):
    # Prices and example questions are set on the app's settings once it exists.
    price_input_per_1k = None
    price_output_per_1k = None
    example_questions = None
    slug = Text(required=False, allow_blank=True,
                validators=[RegexValidator(r"^\s*[-a-zA-Z0-9_]+\s*$", rules.SLUG_WORDS),
                            *rules.SLUG],
                help_text="URL key; made from the name when left out")  # fmt: skip
    name = Text(validators=rules.NAME)


class PermissionsInput(StrictSerializer):
    principals = serializers.ListField(
        child=PrincipalName(max_length=300),
        allow_empty=False,
        min_length=1,  # allow_empty alone does not reach the schema
        validators=rules.PRINCIPALS,
        help_text="Email addresses or group:<name>",
    )
    level = LevelName(max_length=20, help_text="CAN_VIEW, CAN_QUERY, CAN_MANAGE, or NONE to remove")


class InstructionsInput(StrictSerializer):
    markdown = Text(allow_blank=True, trim_whitespace=False, validators=rules.INSTRUCTIONS)


# --- output ---


class AppVersionOutput(serializers.ModelSerializer):
    class Meta:
        model = AppVersion
        fields = ["version", "adapter", "started_at"]


class AppOutput(serializers.ModelSerializer):
    level = serializers.SerializerMethodField(help_text="The caller's effective level on the app")
    url = serializers.SerializerMethodField()
    adapter_config = serializers.SerializerMethodField(help_text="The adapter settings; only for managers")
    price_input_per_1k = serializers.SerializerMethodField(
        help_text="Price per 1,000 input (request) tokens, as decimal text; null when unset; only for managers"
    )
    price_output_per_1k = serializers.SerializerMethodField(
        help_text="Price per 1,000 output (response) tokens, as decimal text; null when unset; only for managers"
    )

    class Meta:
        model = App
        fields = [
            "slug",
            "name",
            "description",
            "adapter",
            "adapter_config",
            "version",
            "timeout_seconds",
            "reasons",
            "context_span",
            "price_input_per_1k",
            "price_output_per_1k",
            "example_questions",
            "level",
            "url",
            "created_at",
            "updated_at",
        ]

    def get_adapter_config(self, app) -> dict | None:
        # Endpoint addresses are infrastructure detail: reviewers have no need for them.
        return app.adapter_config if self._is_manager(app) else None

    def _is_manager(self, app) -> bool:
        return (getattr(app, "level", None) or Level.NONE) >= Level.CAN_MANAGE

    @extend_schema_field({"type": "string", "nullable": True})
    def get_price_input_per_1k(self, app) -> str | None:
        return _price_text(app.price_input_per_1k) if self._is_manager(app) else None

    @extend_schema_field({"type": "string", "nullable": True})
    def get_price_output_per_1k(self, app) -> str | None:
        return _price_text(app.price_output_per_1k) if self._is_manager(app) else None

    def get_level(self, app) -> str:
        return Level(getattr(app, "level", None) or Level.NONE).label

    def get_url(self, app) -> str:
        request = self.context.get("request")
        path = reverse("app-detail", args=[app.slug])
        return request.build_absolute_uri(path) if request else path


def _price_text(price) -> str | None:
    # Fixed-point with the column's decimals ("0.002500"): the text the input pattern takes back.
    return None if price is None else f"{price.quantize(rules.PRICE_STEP):f}"


class AppDetailOutput(AppOutput):
    versions = AppVersionOutput(many=True, read_only=True)
    instructions_version = serializers.SerializerMethodField()
    mlflow_experiment = serializers.CharField(
        source="mlflow_experiment_name",
        read_only=True,
        help_text="The MLflow experiment the app's chain traces are logged to (created on first use)",
    )

    class Meta(AppOutput.Meta):
        fields = [*AppOutput.Meta.fields, "instructions_version", "mlflow_experiment", "versions"]

    def get_instructions_version(self, app) -> int | None:
        current = app.current_instructions()
        return current.version if current else None


class GrantOutput(serializers.Serializer):
    principal = Text(help_text="An email address, or group:<name>")
    type = serializers.ChoiceField(choices=["user", "group"])
    level = Text()


class PermissionsOutput(serializers.Serializer):
    app = Text()
    permissions = GrantOutput(many=True)

    @staticmethod
    def build(app, grants) -> dict:
        rows = [
            {
                "principal": grant.principal,
                "type": "group" if grant.group_id else "user",
                "level": Level(grant.level).label,
            }
            for grant in grants
        ]
        return {"app": app.slug, "permissions": rows}


class InstructionsOutput(serializers.Serializer):
    app = Text()
    version = serializers.IntegerField(allow_null=True, help_text="null until instructions are written")
    markdown = Text()
    html = Text(help_text="The Markdown rendered and sanitised")
    created_at = serializers.DateTimeField(allow_null=True)
    created_by = Text(allow_null=True)

    @staticmethod
    def build(app, instructions: ReviewInstructions | None) -> dict:
        markdown = instructions.markdown if instructions else ""
        return {
            "app": app.slug,
            "version": instructions.version if instructions else None,
            "markdown": markdown,
            "html": str(render_markdown(markdown)),
            "created_at": instructions.created_at if instructions else None,
            "created_by": (
                instructions.created_by.email if instructions and instructions.created_by else None
            ),
        }
