"""A chain whose stream breaks off mid-answer: the partial answer is logged as incomplete, shown with
the reason and a retry, and stays reviewable (a real OpenAI-compatible server that cuts its stream)."""

import json

from reviewapp.requestlog.models import Request
from tests.chat.helpers import events_of

CUT = "The chain's stream broke off before the answer was finished: connection closed"


def stream(client, message, conversation_id="conv-1"):
    return client.post(
        "/apps/support-bot/chat/stream/", {"message": message, "conversation_id": conversation_id}
    )


def test_a_cut_stream_ends_with_an_incomplete_event_and_the_turn_is_logged_incomplete(
    as_user, querier, http_app, server
):
    server.cut_after = 3

    events = events_of(stream(as_user(querier), "one two three four"))

    assert [name for name, _ in events] == ["delta", "delta", "delta", "incomplete"]
    final = events[-1][1]
    assert final["status"] == "incomplete"
    assert final["response"] == "Echo (1 messages):"
    # The web chat tells a reviewer what happened in words; the log keeps the chain's.
    assert final["detail"] == "The app's answer broke off part-way. Try again in a moment."
    row = Request.objects.get(request_id=final["request_id"])
    assert (row.status, row.response, row.error) == ("incomplete", "Echo (1 messages):", CUT)


def test_an_incomplete_turn_shows_the_partial_answer_the_reason_a_retry_and_the_feedback_panel(
    as_user, querier, http_app, server
):
    server.cut_after = 3
    client = as_user(querier)
    final = events_of(stream(client, "Keep <this> question"))[-1][1]

    page = client.get(f"/apps/support-bot/chat/turns/{final['request_id']}/")

    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="answer">Echo (1 messages):</div>' in html
    assert 'data-testid="turn-incomplete"' in html
    assert "The answer stopped before it was finished.</strong>" in html
    assert "The app&#x27;s answer broke off part-way. Try again in a moment." in html
    assert CUT.replace("'", "&#x27;") not in html  # the details are for the app's managers
    assert 'data-testid="retry"' in html and 'value="Keep &lt;this&gt; question"' in html
    assert f'id="fb-{final["request_id"]}"' in html
    assert 'data-testid="turn-error"' not in html


def test_the_page_shows_a_cut_answer_and_its_retry_form_posts_the_question_again(
    as_user, querier, http_app, server
):
    server.cut_after = 2
    client = as_user(querier)
    stream(client, "Again please", conversation_id="nojs").getvalue()

    page = client.get("/apps/support-bot/chat/?c=nojs")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="turn-incomplete"' in html and 'data-testid="retry"' in html
    assert '<input type="hidden" name="message" value="Again please">' in html
    assert ">Again please</textarea>" in html  # the question waits in the box too
    server.cut_after = None
    # The retry form, as a browser without JavaScript sends it.
    response = client.post("/apps/support-bot/chat/", {"message": "Again please", "conversation_id": "nojs"})
    assert response.status_code == 302
    statuses = list(Request.objects.order_by("created_at").values_list("status", "response"))
    assert statuses == [("incomplete", "Echo (1"), ("ok", "Echo (1 messages): Again please")]


def test_a_partial_answer_is_left_out_of_the_history(as_user, querier, http_app, server):
    client = as_user(querier)
    server.cut_after = 2
    stream(client, "First", conversation_id="c").getvalue()
    server.cut_after = None

    stream(client, "First", conversation_id="c").getvalue()

    assert server.requests[-1]["body"]["messages"] == [{"role": "user", "content": "First"}]


def test_the_streamed_api_ends_a_cut_stream_with_an_incomplete_event_and_the_partial_answer(
    as_user, querier, http_app, server
):
    server.cut_after = 3
    body = {"messages": [{"role": "user", "content": "one two"}], "stream": True}

    streamed = as_user(querier).post(
        "/api/v1/apps/support-bot/invocations", json.dumps(body), content_type="application/json"
    )

    # The status went out with the first delta, before the cut: only the last event can tell.
    assert streamed.status_code == 200
    name, data = events_of(streamed)[-1]
    assert (name, data["status"], data["response"], data["detail"]) == (
        "incomplete",
        "incomplete",
        "Echo (1 messages):",
        CUT,
    )


def test_the_whole_answer_api_never_asks_for_a_stream_so_a_server_that_cuts_streams_answers_whole(
    as_user, querier, http_app, server
):
    # Without `stream` the adapter's invoke reads one JSON answer, which is whole or an error: no
    # non-streamed call ends part-way, so this path has no incomplete turn (and no 502 for one).
    server.cut_after = 3

    whole = as_user(querier).post(
        "/api/v1/apps/support-bot/invocations",
        json.dumps({"messages": [{"role": "user", "content": "one two"}]}),
        content_type="application/json",
    )

    assert whole.status_code == 200
    assert (whole.json()["status"], whole.json()["response"]) == ("ok", "Echo (1 messages): one two")
    assert "stream" not in server.requests[-1]["body"]


def test_feedback_on_a_partial_answer_is_accepted(as_user, querier, http_app, server):
    server.cut_after = 3
    client = as_user(querier)
    final = events_of(stream(client, "one two"))[-1][1]

    response = client.post(
        "/api/v1/apps/support-bot/feedback",
        json.dumps(
            {
                "request_id": final["request_id"],
                "rating": "negative",
                "corrected_response": "Echo (1 messages): one two",
            }
        ),
        content_type="application/json",
    )

    assert response.status_code == 201, response.content
