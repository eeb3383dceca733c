"""The OpenAPI schema lists, for each operation, the errors and content types the API answers with."""

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(manager, as_user):
    return as_user(manager).get("/api/schema/?format=json").json()


def test_every_operation_documents_its_error_answers_as_json(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            responses = operation["responses"]
            assert {"401", "403", "429"} <= set(responses), (method, path)
            if operation.get("requestBody"):
                assert {"400", "413", "415"} <= set(responses), (method, path)
                assert list(operation["requestBody"]["content"]) == ["application/json"], (method, path)
            if "{" in path:
                assert "404" in responses, (method, path)
            for code, answer in responses.items():
                if code.startswith("4"):
                    assert "application/json" in answer["content"], (method, path, code)


def test_the_streaming_invocation_and_the_feedback_replay_are_documented(schema):
    invocations = schema["paths"]["/api/v1/apps/{slug}/invocations"]["post"]["responses"]
    feedback = schema["paths"]["/api/v1/apps/{slug}/feedback"]["post"]["responses"]

    assert set(invocations["200"]["content"]) == {"application/json", "text/event-stream"}
    assert {"200", "201"} <= set(feedback)
    assert "Retry-After" in invocations["429"]["headers"]


def test_the_schema_generates_without_warnings(capsys, tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))

    assert "enum naming" not in capsys.readouterr().err
