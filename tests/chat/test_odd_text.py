"""A chain that answers text no database can store (NUL, lone surrogates, control characters): every
turn is logged with the text made storable and marked altered, the answer is shown, a stream ends
with its proper event, and a correction copied from the shown answer is accepted."""

import json

import pytest

from reviewapp.feedback.models import Assessment
from reviewapp.lib.text import storable
from reviewapp.requestlog.models import Request
from tests.chat.helpers import events_of

ODD = "Nul\x00 here, a lone \ud800 there, a bell \x07 and \x1b[31m escape"
SHOWN = "Nul here, a lone \ufffd there, a bell \x07 and \x1b[31m escape"
ALTERED_NOTICE = 'data-testid="text-altered"'


@pytest.fixture
def odd_server(server):
    server.answer = ODD
    return server


def api(client, body):
    return client.post(
        "/api/v1/apps/support-bot/invocations", json.dumps(body), content_type="application/json"
    )


def test_the_expected_storable_form():
    assert storable(ODD) == (SHOWN, True)


def test_a_web_chat_turn_is_logged_altered_and_shows_the_answer_and_the_notice(
    as_user, querier, http_app, odd_server
):
    client = as_user(querier)

    response = client.post(
        "/apps/support-bot/chat/", {"message": "Say something odd", "conversation_id": "c"}
    )

    row = Request.objects.get()
    assert (row.status, row.response, row.text_altered) == ("ok", SHOWN, True)
    html = client.get(response["Location"]).content.decode()
    assert "a lone \ufffd there" in html
    assert ALTERED_NOTICE in html


def test_a_streamed_chat_turn_ends_with_done_and_the_storable_answer(as_user, querier, http_app, odd_server):
    client = as_user(querier)

    events = events_of(
        client.post("/apps/support-bot/chat/stream/", {"message": "Odd?", "conversation_id": "c"})
    )

    name, final = events[-1]
    assert name == "done"
    assert "".join(data["text"] for _, data in events[:-1]) == final["response"] == SHOWN
    assert final["text_altered"] is True
    row = Request.objects.get(request_id=final["request_id"])
    assert (row.response, row.text_altered) == (SHOWN, True)
    fragment = client.get(f"/apps/support-bot/chat/turns/{row.request_id}/").content.decode()
    assert ALTERED_NOTICE in fragment


@pytest.mark.parametrize("stream", [False, True])
def test_the_invocations_api_logs_and_answers_the_storable_text(
    as_user, querier, http_app, odd_server, stream
):
    response = api(as_user(querier), {"messages": [{"role": "user", "content": "Odd?"}], "stream": stream})

    assert response.status_code == 200
    body = events_of(response)[-1][1] if stream else response.json()
    assert (body["status"], body["response"], body["text_altered"]) == ("ok", SHOWN, True)
    assert Request.objects.get(request_id=body["request_id"]).response == SHOWN


def test_a_plain_answer_is_not_marked_altered(as_user, querier, http_app, server):
    body = api(as_user(querier), {"messages": [{"role": "user", "content": "Plain?"}]}).json()

    assert body["text_altered"] is False
    assert not Request.objects.get().text_altered


def test_a_correction_copied_from_the_shown_answer_is_accepted_by_the_api_and_the_panel(
    as_user, querier, http_app, odd_server
):
    client = as_user(querier)
    body = api(client, {"messages": [{"role": "user", "content": "Odd?"}]}).json()
    request_id = body["request_id"]

    response = client.post(
        "/api/v1/apps/support-bot/feedback",
        json.dumps({"request_id": request_id, "corrected_response": body["response"] + " (fixed)"}),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content

    panel = client.post(
        f"/apps/support-bot/requests/{request_id}/feedback/",
        {"field": "corrected_response", "corrected_response": SHOWN + " (fixed again)"},
        headers={"HX-Request": "true"},
    )
    assert panel.status_code == 200, panel.content
    effective = Assessment.objects.latest_per_reviewer().get(request_id=request_id)
    assert effective.corrected_response == SHOWN + " (fixed again)"


def test_text_no_database_can_store_typed_as_feedback_is_refused_with_a_400(
    as_user, querier, http_app, server
):
    client = as_user(querier)
    request_id = api(client, {"messages": [{"role": "user", "content": "Q?"}]}).json()["request_id"]
    # Escapes in the JSON text: the test client would refuse to encode a lone surrogate itself.
    raw = json.dumps({"request_id": request_id, "comment": "a \x00 b", "corrected_response": "c \ud800"})

    response = client.post("/api/v1/apps/support-bot/feedback", raw, content_type="application/json")
    assert response.status_code == 400
    assert "NUL" in response.content.decode() or "surrogate" in response.content.decode()

    panel = client.post(
        f"/apps/support-bot/requests/{request_id}/feedback/",
        {"field": "comment", "comment": "a \x00 b"},
        headers={"HX-Request": "true"},
    )
    assert panel.status_code == 400
    assert "Comment contains a NUL character (U+0000), which cannot be stored." in panel.content.decode()
    assert not Assessment.objects.exists()
