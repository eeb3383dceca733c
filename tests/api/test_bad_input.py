"""Bad input found by hand: each answers its documented 4xx with a JSON reason, never a 500 or HTML."""

import json
import uuid

import pytest
from django.test import Client, RequestFactory

from reviewapp.catalog.models import Level
from reviewapp.exports.models import CustomJudge
from reviewapp.front.api_errors import server_error
from reviewapp.queues.models import ReviewQueue
from reviewapp.requestlog.jsonl_import import iter_jsonl
from reviewapp.requestlog.models import Request
from reviewapp.requestlog.rows import BadRow
from tests import factories
from tests.accounts.test_scim import TOKEN, USER_SCHEMA, Scim, assert_error


def post(client, path: str, raw: str, method: str = "post"):
    return getattr(client, method)(path, raw, content_type="application/json")


def detail_of(response) -> str:
    assert response["Content-Type"] == "application/json", response.content[:200]
    return json.dumps(response.json())


# --- bodies the parser refuses for the whole API ---


def test_a_deeply_nested_body_is_a_400_not_a_recursion_error(app, manager, as_user):
    response = post(as_user(manager), "/api/v1/apps/support-bot/invocations", "[" * 100_000)

    assert response.status_code == 400
    assert "nested deeper than 64 levels" in response.json()["detail"]


def test_a_lone_surrogate_in_a_message_is_a_400_naming_where(app, querier, as_user):
    body = '{"messages": [{"role": "user", "content": "hi \\ud800 there"}]}'

    response = post(as_user(querier), "/api/v1/apps/support-bot/invocations", body)

    assert response.status_code == 400
    assert response.json()["detail"] == (
        "JSON parse error - messages[0].content contains an unpaired surrogate (U+D800)"
    )
    assert not Request.objects.exists()


def test_a_nul_in_a_message_is_a_400_naming_where(app, querier, as_user):
    body = json.dumps({"messages": [{"role": "user", "content": "hi\x00"}]})

    response = post(as_user(querier), "/api/v1/apps/support-bot/invocations", body)

    assert response.status_code == 400
    assert "messages[0].content contains a NUL character (U+0000)" in response.json()["detail"]


def test_a_nul_in_a_model_uri_is_a_400(app, manager, as_user):
    body = json.dumps({"adapter": "mlflow", "adapter_config": {"model_uri": "models:/a\x00b/1"}})

    response = post(as_user(manager), "/api/v1/apps/support-bot", body, method="patch")

    assert response.status_code == 400
    assert "adapter_config.model_uri contains a NUL character" in response.json()["detail"]


def test_imported_rows_with_a_surrogate_are_a_400_before_any_job(app, manager, as_user):
    row = {"request_id": str(uuid.uuid4()), "request": "question", "response": "answer \ud800"}
    body = json.dumps({"rows": [row]})

    response = post(as_user(manager), "/api/v1/apps/support-bot/traces:import", body)

    assert response.status_code == 400
    assert "rows[0].response contains an unpaired surrogate (U+D800)" in response.json()["detail"]


def test_a_body_over_the_upload_limit_is_a_json_413(app, querier, as_user, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"request_id": str(uuid.uuid4()), "comment": "x" * 2000})

    response = post(as_user(querier), "/api/v1/apps/support-bot/feedback", body)

    assert response.status_code == 413
    assert response.json() == {"detail": "The request body is over 1000 bytes."}


def test_a_form_body_is_a_json_415(app, querier, as_user):
    response = as_user(querier).post("/api/v1/apps/support-bot/feedback", {"rating": "positive"})

    assert response.status_code == 415
    assert "Unsupported media type" in detail_of(response)


# --- fields: sizes and shapes checked first ---


def test_a_custom_judge_without_reasons_is_created_with_none(app, manager, as_user):
    body = json.dumps({"name": "tone", "type": "ANSWER", "definition": "Is the answer polite?"})

    response = post(as_user(manager), "/api/v1/apps/support-bot/custom-judges", body)

    assert response.status_code == 201, response.content
    assert response.json()["reasons"] == []
    assert CustomJudge.objects.get(name="tone").reasons == []


def test_custom_judge_reasons_that_are_not_a_list_are_a_400(app, manager, as_user):
    body = json.dumps({"name": "tone", "type": "ANSWER", "definition": "polite?", "reasons": {"a": 1}})

    response = post(as_user(manager), "/api/v1/apps/support-bot/custom-judges", body)

    assert response.status_code == 400
    assert "reasons" in response.json()


@pytest.mark.parametrize(
    ("overlap", "message"),
    [
        ("100000000000000000000", "overlap must be a whole number from 1 to 100"),
        ("1e20", "A valid integer is required."),
    ],
)
def test_an_overlap_beyond_any_integer_column_is_a_400(app, manager, as_user, overlap, message):
    body = f'{{"name": "q", "overlap": {overlap}}}'

    response = post(as_user(manager), "/api/v1/apps/support-bot/review-queues", body)

    assert response.status_code == 400
    assert response.json() == {"overlap": [message]}
    assert not ReviewQueue.objects.exists()


def test_a_chunk_position_beyond_any_integer_column_is_a_400(app, querier, as_user):
    req = factories.make_request(app, user=querier)
    body = {"request_id": str(req.pk), "retrieval_assessments": [{"position": 10**30, "rating": "relevant"}]}

    response = post(as_user(querier), "/api/v1/apps/support-bot/feedback", json.dumps(body))

    assert response.status_code == 400
    assert "less than or equal to" in detail_of(response)


def test_too_many_feedback_reasons_are_refused_before_any_work(app, querier, as_user):
    req = factories.make_request(app, user=querier)
    body = {"request_id": str(req.pk), "reasons": ["r"] * 60_000}

    response = post(as_user(querier), "/api/v1/apps/support-bot/feedback", json.dumps(body))

    assert response.status_code == 400
    assert response.json() == {"reasons": ["Ensure this field has no more than 200 elements."]}


# --- routes Django answers itself under /api/ ---


def test_an_unknown_job_is_a_json_404(manager, as_user):
    response = as_user(manager).get(f"/api/v1/jobs/{uuid.uuid4()}")

    assert response.status_code == 404
    assert response.json() == {"detail": "No such job"}


def test_a_job_url_with_a_trailing_slash_is_a_json_404_saying_so(manager, as_user):
    response = as_user(manager).get(f"/api/v1/jobs/{uuid.uuid4()}/")

    assert response.status_code == 404
    assert response.json() == {"detail": "No such API route. API paths have no trailing slash."}


def test_an_unknown_api_route_is_a_json_404_even_for_anonymous_callers(db):
    response = Client().get("/api/v1/nothing-here")

    assert response.status_code == 404
    assert response.json() == {"detail": "No such API route."}


def test_a_method_a_route_does_not_have_is_a_json_405(manager, as_user):
    response = as_user(manager).delete("/api/v1/me")

    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "DELETE" not allowed.'}


def test_a_crash_under_the_api_is_a_json_500_and_an_html_page_elsewhere():
    factory = RequestFactory()

    api = server_error(factory.get("/api/v1/apps"))
    page = server_error(factory.get("/apps/"))

    assert api.status_code == 500 and api["Content-Type"] == "application/json"
    assert json.loads(api.content) == {"detail": "Server error; it has been logged."}
    assert page.status_code == 500 and page["Content-Type"].startswith("text/html")


def test_html_pages_keep_their_html_404(manager, as_user):
    response = as_user(manager).get("/apps/no-such-app/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


# --- the other ways text arrives: uploaded JSONL rows, SCIM ---


def test_a_jsonl_line_nested_too_deep_is_that_rows_error_and_odd_text_is_left_to_the_row(tmp_path):
    good = {"request_id": str(uuid.uuid4()), "request": "q", "response": "a"}
    lines = [
        json.dumps({**good, "response": "a\x00"}),
        json.dumps({**good, "request": [{"role": "user", "content": "\ud800"}]}),
        '{"request": ' + "[" * 5000 + "]" * 5000 + "}",
        json.dumps(good),
    ]
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(lines) + "\n")

    rows = dict(iter_jsonl(path))

    # NUL and lone surrogates are made storable when the row is built (requestlog/rows.py).
    assert rows[1]["response"] == "a\x00"
    assert rows[2]["request"][0]["content"] == "\ud800"
    assert str(rows[3]) == "request is nested deeper than 64 levels"
    assert not isinstance(rows[4], BadRow) and rows[4]["response"] == "a"


@pytest.mark.parametrize("name", ["Ada\x00Lovelace", "Ada \ud800"])
def test_a_scim_name_the_database_cannot_store_is_a_scim_400(db, settings, name):
    settings.SCIM_TOKEN = TOKEN
    body = {"schemas": [USER_SCHEMA], "userName": "ada@example.com", "name": {"formatted": name}}

    status, doc = Scim().post("Users", body)

    assert_error(status, doc, 400, "invalidValue")
    assert "name.formatted contains" in doc["detail"]


def test_a_scim_patch_with_a_nul_is_a_scim_400(db, settings):
    settings.SCIM_TOKEN = TOKEN
    scim = Scim()
    user = factories.make_user("ada@example.com")
    factories.grant(factories.make_app("bot"), user, Level.CAN_VIEW)
    status, doc = scim.post("Users", {"schemas": [USER_SCHEMA], "userName": "grace@example.com"})
    assert status == 201, doc

    status, doc = scim.patch(f"Users/{doc['id']}", {"op": "replace", "path": "displayName", "value": "G\x00"})

    assert_error(status, doc, 400, "invalidValue")
    assert "contains a NUL character" in doc["detail"]


# --- answers whatever the Accept header says; times the database cannot take ---


@pytest.mark.parametrize("accept", ["text/html", "text/event-stream", "application/xml;q=1"])
def test_an_accept_header_the_api_cannot_meet_gets_json_not_a_406(manager, as_user, accept):
    response = as_user(manager).get("/api/v1/me", headers={"accept": accept})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"


def test_a_request_log_time_with_an_offset_beyond_the_databases_is_read_in_utc(app, manager, as_user):
    response = as_user(manager).get("/api/v1/apps/support-bot/request-logs?since=0727-06-15T07:22:17%2B23:02")

    assert response.status_code == 200, response.content


def test_a_request_log_time_that_leaves_the_calendar_in_utc_is_a_400(app, manager, as_user):
    response = as_user(manager).get("/api/v1/apps/support-bot/request-logs?until=0001-01-01T00:00:00%2B05:00")

    assert response.status_code == 400
    assert response.json() == {"until": ["is out of range"]}


# --- found by a deeper schemathesis run: the answer and the schema agree ---


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/apps", {"name": "Second", "slug": "support-bot", "adapter": "demo"}, "slug"),
        ("/api/v1/apps/support-bot/review-queues", {"name": "Week 1"}, "name"),
        (
            "/api/v1/apps/support-bot/custom-judges",
            {"name": "tone", "type": "ANSWER", "definition": "x"},
            "name",
        ),
    ],
)
def test_a_taken_name_is_a_409_naming_the_field(app, staff, as_user, path, body, field):
    factories.grant(app, staff, Level.CAN_MANAGE)
    client = as_user(staff)
    ReviewQueue.objects.create(app=app, name="Week 1")
    CustomJudge.objects.create(app=app, name="tone", type="ANSWER", definition="polite?")

    response = post(client, path, json.dumps(body))

    assert response.status_code == 409, response.content
    assert "already" in " ".join(response.json()[field])


def test_the_schema_documents_409_where_a_name_can_be_taken(staff, as_user):
    paths = as_user(staff).get("/api/schema/?format=json").json()["paths"]

    for path in ("/api/v1/apps", "/api/v1/apps/{slug}/review-queues", "/api/v1/apps/{slug}/custom-judges"):
        conflict = paths[path]["post"]["responses"]["409"]
        assert conflict["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ValidationError"
        }


def test_a_name_of_white_space_is_a_400_and_the_schema_says_so(app, manager, as_user):
    client = as_user(manager)

    response = post(client, "/api/v1/apps/support-bot/review-queues", json.dumps({"name": "\t\x1e "}))
    schema = client.get("/api/schema/?format=json").json()["components"]["schemas"]["QueueCreateInputRequest"]

    assert response.status_code == 400 and "name" in response.json()
    assert schema["properties"]["name"]["pattern"] == r"\S"


@pytest.mark.parametrize("value", [0, 0.0, 1, "true", "no"])
def test_a_body_boolean_must_be_true_false_or_null(app, manager, as_user, value):
    body = {"name": "set-1", "rule": "latest", "filters": {"has_chunk_ratings": value}}

    response = post(as_user(manager), "/api/v1/apps/support-bot/evaluation-sets", json.dumps(body))

    assert response.status_code == 400
    assert "has_chunk_ratings" in response.json()["filters"]


def test_an_imported_row_that_is_not_an_object_is_a_400_naming_it(app, manager, as_user):
    rows = [{"request_id": str(uuid.uuid4()), "request": "q", "response": "a"}, None, ["/"]]

    response = post(as_user(manager), "/api/v1/apps/support-bot/traces:import", json.dumps({"rows": rows}))

    assert response.status_code == 400
    assert set(response.json()["rows"]) == {"1", "2"}
