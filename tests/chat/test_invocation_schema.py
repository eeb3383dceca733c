"""The schema describes every invocation answer: a 200 is always a whole answer, and a 502 for an
answer that stopped part-way carries all the partial answer's fields; an import job's result names
the traces left out as another app's."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(manager, as_user):
    return as_user(manager).get("/api/schema/?format=json").json()


def component(schema: dict, answer: dict) -> dict:
    ref = answer["content"]["application/json"]["schema"]["$ref"]
    return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def test_a_200_answer_is_only_ever_ok(schema):
    responses = schema["paths"]["/api/v1/apps/{slug}/invocations"]["post"]["responses"]

    status = component(schema, responses["200"])["properties"]["status"]

    (enum,) = status["allOf"]
    assert schema["components"]["schemas"][enum["$ref"].rsplit("/", 1)[-1]]["enum"] == ["ok"]


def test_a_502_documents_the_partial_answers_fields_none_of_them_required(schema):
    responses = schema["paths"]["/api/v1/apps/{slug}/invocations"]["post"]["responses"]

    error = component(schema, responses["502"])

    assert {"detail", "request_id", "conversation_id", "status", "response", "retrieved_context",
            "text_altered"} <= set(error["properties"])  # fmt: skip
    assert not {"response", "retrieved_context", "text_altered"} & set(error.get("required", []))


def test_a_jobs_result_mentions_the_traces_of_other_apps(schema):
    job = schema["components"]["schemas"]["Job"]

    assert "other_apps" in job["properties"]["result"]["description"]
