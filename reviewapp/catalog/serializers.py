from django.core.validators import RegexValidator
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .markdown import render_markdown
from .models import App, AppVersion, Level, ReviewInstructions
from .services import (
    MAX_DESCRIPTION_CHARS,
    MAX_INSTRUCTIONS_CHARS,
    MAX_PRINCIPALS,
    MAX_REASON_CHARS,
    MAX_REASONS_GIVEN,
    MAX_TIMEOUT_SECONDS,
)


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, so a typo is a 400 instead of a silent no-op."""

    refuses_unknown_fields = True  # the schema says additionalProperties: false (front.api_schema)

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {key: [f"unknown field; allowed: {', '.join(self.fields)}"] for key in unknown}
                )
        return super().to_internal_value(data)


class Text(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of turning them into text."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class Flag(serializers.BooleanField):
    """A JSON true or false (null where allowed), not 0, "1" or "yes": in a JSON body the schema's
    boolean is the whole contract. (Query parameters, which are text, keep BooleanField.)"""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


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


# --- input ---


class AppUpdateInput(StrictSerializer):
    name = Text(max_length=200, required=False)
    description = Text(allow_blank=True, required=False, max_length=MAX_DESCRIPTION_CHARS)
    adapter = serializers.ChoiceField(choices=App.Adapter.choices, required=False)
    adapter_config = serializers.DictField(required=False, help_text=(
        'mlflow: {"model_uri"}; http: {"url", "kind": "openai"|"mlflow", "model"?, "secret_header"?, '
        '"secret_env"?}: secret_env is the NAME of an environment variable, never the secret'
    ))  # fmt: skip
    version = Text(max_length=100, required=False)
    timeout_seconds = serializers.IntegerField(min_value=1, max_value=MAX_TIMEOUT_SECONDS, required=False)
    reasons = serializers.ListField(
        child=Text(allow_blank=True, max_length=MAX_REASON_CHARS),
        required=False,
        max_length=MAX_REASONS_GIVEN,
    )


class AppCreateInput(AppUpdateInput):
    slug = Text(max_length=80, required=False, allow_blank=True,
                validators=[RegexValidator(r"^\s*[-a-zA-Z0-9_]+\s*$",
                                           "letters, digits, hyphens and underscores only, e.g. docs-assistant")],
                help_text="URL key; made from the name when left out")  # fmt: skip
    name = Text(max_length=200)


class PermissionsInput(StrictSerializer):
    principals = serializers.ListField(
        child=PrincipalName(max_length=300),
        allow_empty=False,
        min_length=1,  # allow_empty alone does not reach the schema
        max_length=MAX_PRINCIPALS,
        help_text="Email addresses or group:<name>",
    )
    level = LevelName(max_length=20, help_text="CAN_VIEW, CAN_QUERY, CAN_MANAGE, or NONE to remove")


class InstructionsInput(StrictSerializer):
    markdown = Text(allow_blank=True, trim_whitespace=False, max_length=MAX_INSTRUCTIONS_CHARS)


# --- output ---


class AppVersionOutput(serializers.ModelSerializer):
    class Meta:
        model = AppVersion
        fields = ["version", "adapter", "started_at"]


class AppOutput(serializers.ModelSerializer):
    level = serializers.SerializerMethodField(help_text="The caller's effective level on the app")
    url = serializers.SerializerMethodField()
    adapter_config = serializers.SerializerMethodField(help_text="The adapter settings; only for managers")

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
            "level",
            "url",
            "created_at",
            "updated_at",
        ]

    def get_adapter_config(self, app) -> dict | None:
        # Endpoint addresses are infrastructure detail: reviewers have no need for them.
        return app.adapter_config if (getattr(app, "level", None) or Level.NONE) >= Level.CAN_MANAGE else None

    def get_level(self, app) -> str:
        return Level(getattr(app, "level", None) or Level.NONE).label

    def get_url(self, app) -> str:
        request = self.context.get("request")
        path = reverse("app-detail", args=[app.slug])
        return request.build_absolute_uri(path) if request else path


class AppDetailOutput(AppOutput):
    versions = AppVersionOutput(many=True, read_only=True)
    instructions_version = serializers.SerializerMethodField()

    class Meta(AppOutput.Meta):
        fields = [*AppOutput.Meta.fields, "instructions_version", "versions"]

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
