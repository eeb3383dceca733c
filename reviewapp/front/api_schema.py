"""The OpenAPI schema tells the truth: each operation lists the error answers it can give (front.api_errors),
and a request body that refuses unknown keys says so.
"""

from django.core.validators import RegexValidator
from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension

ERROR = {
    "type": "object",
    "properties": {"detail": {"type": "string", "description": "What went wrong"}},
    "required": ["detail"],
}
VALIDATION_ERROR = {
    "type": "object",
    "description": "Each field at fault with its messages (nested as the input is); `detail` for the whole body",
    "properties": {
        "detail": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
    },
    "additionalProperties": {},
}

_WHY = {
    400: (
        "ValidationError",
        "Bad input: the body names each field at fault. No text may hold a NUL character or an unpaired "
        "surrogate, and no body may nest deeper than 64 levels.",
    ),
    401: ("Error", "No valid API token or session"),
    403: ("Error", "Your level on the app does not allow this"),
    404: ("Error", "No such object, or one you may not see"),
    413: ("Error", "The body is over the upload limit (DATA_UPLOAD_MAX_MEMORY_SIZE)"),
    409: ("ValidationError", "The name is taken: the body names the field"),
    415: ("Error", "The body is not application/json"),
    429: ("Error", "Too many requests; see the Retry-After header"),
}
_RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}}


class RequestBodyRules(OpenApiSerializerExtension):
    """Rules of an input serializer that its fields alone do not show, in its request schema.

    `refuses_unknown_fields = True`: a key it does not know is a 400 (`additionalProperties: false`);
    `one_of_required = (a, b)`: exactly one of those fields (`oneOf` of `required`);
    `any_of_required = (a, b, ...)`: at least one of them, not blank (`anyOf` of `required`).
    Registered in FrontConfig.ready.
    """

    target_class = "rest_framework.serializers.Serializer"
    match_subclasses = True

    @classmethod
    def _matches(cls, target) -> bool:
        rules = ("refuses_unknown_fields", "one_of_required", "any_of_required")
        return super()._matches(target) and any(getattr(target, rule, None) for rule in rules)

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_basic_serializer(self.target, direction)
        if direction == "request":
            if getattr(self.target, "refuses_unknown_fields", False):
                schema["additionalProperties"] = False
            if getattr(self.target, "one_of_required", ()):
                schema["oneOf"] = [{"required": [name]} for name in self.target.one_of_required]
            if getattr(self.target, "any_of_required", ()):
                # Given and not blank: `pattern` constrains text only, so lists and booleans count as given.
                schema["anyOf"] = [
                    {"required": [name], "properties": {name: {"pattern": r"\S"}}}
                    for name in self.target.any_of_required
                ]
        return schema


class NonBlankText(OpenApiSerializerFieldExtension):
    """A text that may not be blank may not be all white space either (DRF trims it first): the
    request schema says so with a pattern, where the field has no pattern or enum of its own."""

    target_class = "reviewapp.lib.serializers.Text"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        field = self.target
        trimmed_yet_required = not field.allow_blank and field.trim_whitespace
        # A RegexValidator's pattern is added after this, and only where no pattern is yet.
        own_pattern = any(isinstance(v, RegexValidator) for v in field.validators)
        if (
            direction == "request"
            and trimmed_yet_required
            and not own_pattern
            and not {"pattern", "enum"} & set(schema)
        ):
            schema["pattern"] = r"\S"
        return schema


def _statuses(operation: dict) -> list[int]:
    codes = [401, 403, 429]
    params = operation.get("parameters", [])
    if operation.get("requestBody"):
        codes += [400, 413, 415]
    elif any(p.get("in") == "query" for p in params):
        codes.append(400)
    if any(p.get("in") == "path" for p in params):
        codes.append(404)
    return sorted(codes)


EMPTY_IS_ABSENT = {"x-empty-is-absent": True}


def _mark_empty_values(operation: dict) -> None:
    """Query parameters read through a Django form (EMPTY_IS_ABSENT): `name=` means no filter."""
    for parameter in operation.get("parameters", []):
        if parameter.pop("x-empty-is-absent", False):
            parameter["allowEmptyValue"] = True


def _require_body_with_alternatives(operation: dict, schemas: dict) -> None:
    """A body that must hold one of several fields (oneOf/anyOf) cannot be left out either."""
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    name = body.get("$ref", "").rpartition("/")[2]
    if {"oneOf", "anyOf"} & set(schemas.get(name, {})):
        operation["requestBody"]["required"] = True


def document_errors(result, generator, request, public):
    """drf-spectacular postprocessing hook: adds the error responses an operation does not document."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", ERROR)
    schemas.setdefault("ValidationError", VALIDATION_ERROR)
    for methods in result.get("paths", {}).values():
        for operation in methods.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            _mark_empty_values(operation)
            _require_body_with_alternatives(operation, schemas)
            responses = operation["responses"]
            # A view that can answer 409 lists it (OpenApiResponse); its body is filled in here.
            named = {
                int(code) for code in responses if code.isascii() and code.isdigit() and int(code) in _WHY
            }
            for code in sorted(set(_statuses(operation)) | named):
                name, description = _WHY[code]
                answer = responses.setdefault(str(code), {"description": description})
                answer.setdefault("description", description)
                if not answer.get("content"):
                    answer["content"] = {
                        "application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}
                    }
                if code == 429:
                    answer.setdefault("headers", _RETRY_AFTER)
    return result
