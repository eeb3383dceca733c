"""POST /api/v1/apps/{slug}/invocations against a real OpenAI-compatible server on loopback."""

import json
import socket

import pytest

from reviewapp.catalog.models import App
from reviewapp.requestlog.models import Request
from tests.chat.helpers import events_of

QUESTION = [{"role": "user", "content": "How do I rotate a token?"}]


@pytest.fixture
def http_app(app, server):
    app.adapter = App.Adapter.HTTP
    app.adapter_config = {"url": server.url, "kind": "openai", "model": "small"}
    app.version = "7"
    app.timeout_seconds = 5
    app.save()
    return app


def invoke(client, body, slug="support-bot", raw=None):
    return client.post(
        f"/api/v1/apps/{slug}/invocations",
        data=raw if raw is not None else json.dumps(body),
        content_type="application/json",
    )


def test_it_answers_and_logs_the_turn_as_rest_api(as_user, querier, http_app, server):
    response = invoke(as_user(querier), {"messages": QUESTION})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["response"] == "Echo (1 messages): How do I rotate a token?"
    assert body["retrieved_context"] == []
    row = Request.objects.get(request_id=body["request_id"])
    assert row.conversation_id == body["conversation_id"]
    assert row.source == Request.Source.REST_API
    assert row.user == querier
    assert row.app_version == "7"
    assert row.messages == QUESTION
    assert row.response == body["response"]
    assert row.status == Request.Status.OK
    assert (row.request_tokens, row.response_tokens, row.total_tokens) == (7, 9, 16)
    assert row.latency_ms is not None


def test_it_keeps_the_conversation_id_it_is_given_and_sends_the_whole_history(
    as_user, querier, http_app, server
):
    history = [
        *QUESTION,
        {"role": "assistant", "content": "In Settings."},
        {"role": "user", "content": "Then?"},
    ]

    body = invoke(as_user(querier), {"messages": history, "conversation_id": "conv-42"}).json()

    assert body["conversation_id"] == "conv-42"
    assert body["response"] == "Echo (3 messages): Then?"
    assert server.requests[-1]["body"]["messages"] == history


def test_it_streams_deltas_then_the_same_json_as_a_final_event(as_user, querier, http_app):
    response = invoke(as_user(querier), {"messages": QUESTION, "stream": True})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    events = events_of(response)
    deltas = [data["text"] for name, data in events if name == "delta"]
    assert len(deltas) > 3
    name, final = events[-1]
    assert name == "done"
    assert "".join(deltas) == final["response"] == "Echo (1 messages): How do I rotate a token?"
    row = Request.objects.get(request_id=final["request_id"])
    assert row.response == final["response"]
    assert row.source == Request.Source.REST_API


def test_a_failing_chain_is_a_502_naming_the_error_and_the_turn_is_logged(as_user, querier, http_app, server):
    server.fail_status = 500

    response = invoke(as_user(querier), {"messages": QUESTION})

    assert response.status_code == 502
    body = response.json()
    assert "HTTP 500" in body["detail"] and "overloaded" in body["detail"]
    row = Request.objects.get(request_id=body["request_id"])
    assert row.status == Request.Status.ERROR
    assert row.error == body["detail"]
    assert row.messages == QUESTION


def test_a_slow_chain_is_a_504_and_the_turn_is_logged_as_error(as_user, querier, http_app, server):
    server.delay = 3
    http_app.timeout_seconds = 1
    http_app.save()

    response = invoke(as_user(querier), {"messages": QUESTION})

    assert response.status_code == 504
    assert "did not answer within 1 s" in response.json()["detail"]
    assert Request.objects.get().status == Request.Status.ERROR


def test_a_chain_failing_while_streaming_ends_with_an_error_event(as_user, querier, http_app):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    http_app.adapter_config = {"url": f"http://127.0.0.1:{port}"}
    http_app.save()

    events = events_of(invoke(as_user(querier), {"messages": QUESTION, "stream": True}))

    name, data = events[-1]
    assert name == "error"
    assert "Could not reach the chain" in data["detail"]
    assert Request.objects.get(request_id=data["request_id"]).status == Request.Status.ERROR


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({}, "messages", "required"),
        ({"messages": []}, "messages", "must not be empty"),
        ({"messages": "hello"}, "messages", "must be a list"),
        ({"messages": ["hello"]}, "messages", "messages[0] must be an object"),
        ({"messages": [{"content": "hi"}]}, "messages", "messages[0].role must be one of"),
        ({"messages": [{"role": "robot", "content": "hi"}]}, "messages", "messages[0].role"),
        ({"messages": [{"role": "user"}]}, "messages", "messages[0].content must be a string"),
        ({"messages": [{"role": "user", "content": 42}]}, "messages", "messages[0].content"),
        ({"messages": [{"role": "user", "content": [{"type": "image"}]}]}, "messages", "content"),
        (
            {"messages": [{"role": "assistant", "content": "hi"}]},
            "messages",
            "last message must have role user",
        ),
        ({"messages": [{"role": "user", "content": "   "}]}, "messages", "empty"),
        ({"messages": [{"role": "user", "content": "x" * 100_001}]}, "messages", "the limit is 100000"),
        ({"messages": [{"role": "user", "content": "hi"}] * 201}, "messages", "at most 200 messages"),
        ({"messages": QUESTION, "conversation_id": ""}, "conversation_id", "blank"),
        ({"messages": QUESTION, "conversation_id": "a b"}, "conversation_id", "letters, digits"),
        ({"messages": QUESTION, "conversation_id": "x" * 101}, "conversation_id", "100 characters"),
        ({"messages": QUESTION, "conversation_id": {"id": 1}}, "conversation_id", "Not a valid string"),
        ({"messages": QUESTION, "stream": "maybe"}, "stream", "valid boolean"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(
    as_user, querier, http_app, server, body, field, says
):
    response = invoke(as_user(querier), body)

    assert response.status_code == 400
    errors = response.json()[field]
    assert says in " ".join(errors)
    assert Request.objects.count() == 0
    assert server.requests == []


def test_a_body_that_is_not_json_is_a_400(as_user, querier, http_app):
    response = invoke(as_user(querier), None, raw="{not json")

    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]
    assert Request.objects.count() == 0


def test_a_body_over_the_upload_limit_is_a_400_naming_messages(as_user, querier, http_app, server):
    body = {"messages": [{"role": "user", "content": "x" * 11_000_000}]}

    response = invoke(as_user(querier), body)

    assert response.status_code == 400
    assert "too large" in response.json()["messages"][0]
    assert Request.objects.count() == 0 and server.requests == []


def test_a_body_that_is_a_list_is_a_400(as_user, querier, http_app):
    response = invoke(as_user(querier), QUESTION)

    assert response.status_code == 400
    assert Request.objects.count() == 0


def test_another_users_conversation_cannot_be_continued(as_user, querier, manager, http_app):
    invoke(as_user(manager), {"messages": QUESTION, "conversation_id": "mine"})

    response = invoke(as_user(querier), {"messages": QUESTION, "conversation_id": "mine"})

    assert response.status_code == 400
    assert "another user" in response.json()["conversation_id"][0]
    assert Request.objects.count() == 1


def test_a_group_querier_may_invoke(as_user, group_querier, http_app):
    assert invoke(as_user(group_querier), {"messages": QUESTION}).status_code == 200


def test_a_viewer_is_refused_with_403_and_nothing_is_sent(as_user, viewer, http_app, server):
    response = invoke(as_user(viewer), {"messages": QUESTION})

    assert response.status_code == 403
    assert server.requests == []
    assert Request.objects.count() == 0


def test_an_outsider_gets_404(as_user, outsider, http_app):
    assert invoke(as_user(outsider), {"messages": QUESTION}).status_code == 404


def test_an_anonymous_caller_is_refused(as_user, http_app):
    assert invoke(as_user(None), {"messages": QUESTION}).status_code in (401, 403)


def test_it_works_with_a_bearer_token(client, querier, http_app):
    from reviewapp.accounts.models import ApiToken

    token = ApiToken.issue(user=querier, name="ci")[1]
    response = client.post(
        "/api/v1/apps/support-bot/invocations",
        data=json.dumps({"messages": QUESTION}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200
    assert Request.objects.get().user == querier
