"""The chat screen's views, through the test client (the browser flow is in test_chat_browser)."""

import pytest

from reviewapp.catalog.models import ReviewInstructions
from reviewapp.requestlog.models import Request
from tests import factories
from tests.chat.helpers import events_of


def stream(client, message, conversation_id="conv-1"):
    return client.post(
        "/apps/support-bot/chat/stream/", {"message": message, "conversation_id": conversation_id}
    )


def test_the_chat_page_shows_the_form_the_conversations_and_the_instructions_inert(
    as_user, querier, http_app
):
    ReviewInstructions.objects.create(
        app=http_app, version=1, markdown="# Be **strict**\n<script>alert(1)</script>"
    )
    factories.make_request(http_app, user=querier, conversation_id="old-1", question="Where are my invoices?")

    response = as_user(querier).get("/apps/support-bot/chat/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="chat-form"' in html and 'name="conversation_id"' in html
    assert "<strong>strict</strong>" in html
    assert "<script>alert(1)</script>" not in html
    assert "Where are my invoices?" in html
    assert 'href="/apps/support-bot/chat/?c=old-1"' in html
    assert "js/chat.js" in html


def test_a_conversation_is_shown_with_its_turns_and_feedback_panels(as_user, querier, http_app):
    req = factories.make_request(http_app, user=querier, conversation_id="old-1", question="Q <b>one</b>")
    req.response = "An answer with <img src=x onerror=alert(1)>"
    req.save()

    html = as_user(querier).get("/apps/support-bot/chat/?c=old-1").content.decode()

    assert "Q &lt;b&gt;one&lt;/b&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<img src=x" not in html
    assert f'id="fb-{req.request_id}"' in html  # the feedback panel
    assert "docs://tokens#rotate" in html  # its chunks


def test_someone_elses_conversation_is_not_shown(as_user, querier, manager, http_app):
    factories.make_request(http_app, user=manager, conversation_id="theirs", question="Manager secret")

    html = as_user(querier).get("/apps/support-bot/chat/?c=theirs").content.decode()

    assert "Manager secret" not in html
    assert 'value="theirs"' not in html


def test_htmx_switching_conversations_gets_only_the_chat_part(as_user, querier, http_app):
    factories.make_request(http_app, user=querier, conversation_id="old-1", question="First question")

    response = as_user(querier).get(
        "/apps/support-bot/chat/?c=old-1", headers={"HX-Request": "true", "HX-Target": "chat"}
    )

    html = response.content.decode()
    assert html.lstrip().startswith('<div id="chat"')
    assert "<html" not in html and "First question" in html


def test_a_streamed_turn_sends_deltas_then_done_and_is_logged_as_review_app(as_user, querier, http_app):
    response = stream(as_user(querier), "How do I rotate a token?")

    assert response["Content-Type"] == "text/event-stream"
    events = events_of(response)
    assert [name for name, _ in events[:-1]] == ["delta"] * (len(events) - 1)
    name, final = events[-1]
    assert name == "done"
    assert "".join(d["text"] for _, d in events[:-1]) == final["response"]
    row = Request.objects.get(request_id=final["request_id"])
    assert (row.source, row.user, row.conversation_id) == ("review_app", querier, "conv-1")


def test_the_second_turn_sends_the_history_to_the_chain(as_user, querier, http_app, server):
    client = as_user(querier)
    events_of(stream(client, "How do I rotate a token?"))

    final = events_of(stream(client, "And then?"))[-1][1]

    assert final["response"] == "Echo (3 messages): And then?"
    assert server.requests[-1]["body"]["messages"] == [
        {"role": "user", "content": "How do I rotate a token?"},
        {"role": "assistant", "content": "Echo (1 messages): How do I rotate a token?"},
        {"role": "user", "content": "And then?"},
    ]


def test_a_failed_turn_is_left_out_of_the_history(as_user, querier, http_app, server):
    client = as_user(querier)
    server.fail_status = 500
    assert events_of(stream(client, "First try"))[-1][0] == "error"
    server.fail_status = 0

    final = events_of(stream(client, "First try"))[-1][1]

    assert final["response"] == "Echo (1 messages): First try"
    assert Request.objects.filter(status="error").count() == 1


def test_a_failing_chain_streams_an_error_event_and_its_turn_shows_a_retry(
    as_user, querier, http_app, server
):
    server.fail_status = 503
    client = as_user(querier)

    name, data = events_of(stream(client, "Will this work?"))[-1]

    assert name == "error" and data["detail"] == "The app answered with an error. Try again in a moment."
    html = client.get(f"/apps/support-bot/chat/turns/{data['request_id']}/").content.decode()
    assert 'data-testid="turn-error"' in html and "The app answered with an error" in html
    assert 'data-testid="retry"' in html and 'value="Will this work?"' in html


def test_the_apps_manager_hears_the_chains_own_words_in_the_stream(as_user, manager, http_app, server):
    server.fail_status = 503

    name, data = events_of(stream(as_user(manager), "Will this work?"))[-1]

    assert name == "error" and "HTTP 503" in data["detail"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"message": "  ", "conversation_id": "c1"}, "message"),
        ({"message": "x" * 100_001, "conversation_id": "c1"}, "message"),
        ({"message": "hi", "conversation_id": "bad id!"}, "conversation_id"),
        ({"message": "hi"}, "conversation_id"),
    ],
)
def test_bad_input_to_the_stream_is_a_400_naming_the_field(as_user, querier, http_app, server, data, field):
    response = as_user(querier).post("/apps/support-bot/chat/stream/", data)

    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert Request.objects.count() == 0 and server.requests == []


def test_a_conversation_over_the_message_limit_is_a_400_on_the_question(as_user, querier, http_app, server):
    history = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}] * 99
    factories.make_request(
        http_app, user=querier, conversation_id="long", messages=[*history, {"role": "user", "content": "q"}]
    )

    response = stream(as_user(querier), "One more?", conversation_id="long")

    assert response.status_code == 400
    assert "at most 200 messages, not 201" in response.json()["errors"]["message"]
    assert server.requests == []


def test_another_users_conversation_cannot_be_continued(as_user, querier, manager, http_app):
    factories.make_request(http_app, user=manager, conversation_id="theirs")

    response = stream(as_user(querier), "hi", conversation_id="theirs")

    assert response.status_code == 400
    assert "another user" in response.json()["errors"]["conversation_id"]


def test_the_turn_fragment_refreshes_the_conversation_list_out_of_band(as_user, querier, http_app):
    final = events_of(stream(as_user(querier), "How do I rotate a token?"))[-1][1]

    html = as_user(querier).get(f"/apps/support-bot/chat/turns/{final['request_id']}/").content.decode()

    assert 'data-testid="answer">Echo (1 messages): How do I rotate a token?</div>' in html
    assert 'id="conversations"' in html and 'hx-swap-oob="true"' in html
    assert 'aria-current="page">How do I rotate a token?</a>' in html


def test_another_users_turn_fragment_is_a_404(as_user, querier, manager, http_app):
    req = factories.make_request(http_app, user=manager)

    assert as_user(querier).get(f"/apps/support-bot/chat/turns/{req.request_id}/").status_code == 404


def test_without_javascript_the_form_runs_the_turn_and_shows_the_conversation(as_user, querier, http_app):
    client = as_user(querier)

    response = client.post("/apps/support-bot/chat/", {"message": "Plain post", "conversation_id": "nojs"})

    assert response.status_code == 302
    assert response["Location"] == "/apps/support-bot/chat/?c=nojs"
    assert "Echo (1 messages): Plain post" in client.get(response["Location"]).content.decode()


def test_without_javascript_a_failed_turn_keeps_the_question_in_the_box(as_user, querier, http_app, server):
    server.fail_status = 500
    client = as_user(querier)

    response = client.post("/apps/support-bot/chat/", {"message": "Keep <this>", "conversation_id": "nojs"})

    html = client.get(response["Location"]).content.decode()
    assert 'data-testid="turn-error"' in html and "The app answered with an error" in html
    assert 'data-testid="chat-message"' in html
    assert ">Keep &lt;this&gt;</textarea>" in html
    assert 'data-testid="retry"' in html


def test_without_javascript_a_bad_post_keeps_what_was_typed(as_user, querier, http_app):
    long_text = "keep me " * 12_501

    response = as_user(querier).post(
        "/apps/support-bot/chat/", {"message": long_text, "conversation_id": "c1"}
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert "keep me keep me" in html
    assert "100000 characters" in html or "100 kB" in html
    assert Request.objects.count() == 0


@pytest.mark.parametrize("path", ["/apps/support-bot/chat/", "/apps/support-bot/chat/stream/"])
def test_a_viewer_cannot_chat(as_user, viewer, http_app, path):
    client = as_user(viewer)
    response = (
        client.post(path, {"message": "hi", "conversation_id": "c1"})
        if "stream" in path
        else client.get(path)
    )

    assert response.status_code == 403


def test_an_outsider_gets_404(as_user, outsider, http_app):
    assert as_user(outsider).get("/apps/support-bot/chat/").status_code == 404


def test_an_anonymous_visitor_is_sent_to_sign_in(as_user, http_app):
    response = as_user(None).get("/apps/support-bot/chat/")

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_a_group_querier_can_chat(as_user, group_querier, http_app):
    assert events_of(stream(as_user(group_querier), "hi"))[-1][0] == "done"


def test_the_web_chat_past_the_invocations_budget_is_a_429_that_keeps_the_question(
    as_user, querier, http_app, throttle_rates
):
    throttle_rates["invocations"] = "1/min"
    client = as_user(querier)
    first = stream(client, "First question")
    assert first.status_code == 200 and events_of(first)[-1][0] == "done"

    streamed = stream(client, "Second question")
    posted = client.post(
        "/apps/support-bot/chat/", {"message": "Third question", "conversation_id": "conv-1"}
    )

    assert streamed.status_code == 429 and int(streamed["Retry-After"]) >= 1
    assert (
        "Too many invocations requests: the limit is 1/min per user" in streamed.json()["errors"]["__all__"]
    )
    assert posted.status_code == 429 and int(posted["Retry-After"]) >= 1
    html = posted.content.decode()
    assert "Too many invocations requests" in html and "Third question" in html
    assert Request.objects.filter(app=http_app).count() == 1  # the refused turns ran no chain
