"""`Client.invoke` over real HTTP: the live server, a personal API token and a chain server."""

import pytest

from reviewapp.accounts.models import ApiToken
from reviewapp.catalog.models import App
from reviewapp.client import ApiError, Client
from reviewapp.requestlog.models import Request


@pytest.fixture
def client_for_querier(live_server, querier, app, server):
    App.objects.filter(pk=app.pk).update(adapter=App.Adapter.HTTP, adapter_config={"url": server.url})
    return Client(live_server.url, token=ApiToken.issue(user=querier, name="test")[1])


def test_invoke_answers_and_continues_a_conversation(client_for_querier, server):
    first = client_for_querier.invoke("support-bot", "How do I rotate a token?")
    second = client_for_querier.invoke(
        "support-bot",
        [
            {"role": "user", "content": "How do I rotate a token?"},
            {"role": "assistant", "content": first["response"]},
            {"role": "user", "content": "And then?"},
        ],
        conversation_id=first["conversation_id"],
    )

    assert first["response"] == "Echo (1 messages): How do I rotate a token?"
    assert second["response"] == "Echo (3 messages): And then?"
    assert second["conversation_id"] == first["conversation_id"]
    rows = Request.objects.filter(conversation_id=first["conversation_id"])
    assert rows.count() == 2 and {r.source for r in rows} == {"rest_api"}


def test_invoke_raises_the_chain_failure_with_the_logged_request(client_for_querier, server):
    server.fail_status = 500

    with pytest.raises(ApiError) as caught:
        client_for_querier.invoke("support-bot", "Hello?")

    assert caught.value.status == 502
    assert "HTTP 500" in caught.value.body["detail"]
    assert Request.objects.get(request_id=caught.value.body["request_id"]).status == "error"


def test_invoke_raises_a_400_naming_the_bad_field(client_for_querier):
    with pytest.raises(ApiError) as caught:
        client_for_querier.invoke("support-bot", [{"role": "user"}])

    assert caught.value.status == 400
    assert "messages" in caught.value.body
