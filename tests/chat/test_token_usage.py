"""The token counts a chain server reports are the ones logged, streamed or whole; the estimate is
only for chains that report none."""

import json

import pytest

from reviewapp.requestlog.models import Request
from tests.chat.helpers import events_of

USAGE = {"prompt_tokens": 123, "completion_tokens": 45, "total_tokens": 168}


def test_a_whole_answers_usage_is_logged(as_user, querier, http_app, server):
    server.usage = USAGE

    response = as_user(querier).post(
        "/api/v1/apps/support-bot/invocations",
        json.dumps({"messages": [{"role": "user", "content": "How many tokens?"}]}),
        content_type="application/json",
    )

    row = Request.objects.get(request_id=response.json()["request_id"])
    assert (row.request_tokens, row.response_tokens, row.total_tokens) == (123, 45, 168)


def test_a_streamed_usage_chunk_is_logged(as_user, querier, http_app, server):
    server.usage = USAGE

    final = events_of(
        as_user(querier).post(
            "/apps/support-bot/chat/stream/", {"message": "How many?", "conversation_id": "c"}
        )
    )[-1][1]

    assert server.requests[0]["body"]["stream_options"] == {"include_usage": True}
    row = Request.objects.get(request_id=final["request_id"])
    assert (row.request_tokens, row.response_tokens, row.total_tokens) == (123, 45, 168)


def test_a_cut_stream_without_usage_is_estimated(as_user, querier, http_app, server):
    server.usage = USAGE
    server.cut_after = 3

    final = events_of(
        as_user(querier).post(
            "/apps/support-bot/chat/stream/", {"message": "How many?", "conversation_id": "c"}
        )
    )[-1][1]

    row = Request.objects.get(request_id=final["request_id"])
    # "Echo (1 messages):" → Echo ( 1 messages ) : — the usage never came.
    assert row.response_tokens == 6


# Counts no database column can hold, or that are not counts at all: each is unknown, not a failure.
ODD_COUNTS = [-1, 2**40, 1.5, True, float("inf"), "12", None]
ESTIMATED = (3, 9, 12)  # "How many?" and "Echo (1 messages): How many?", words and marks


def ask(client, streamed: bool) -> Request:
    if streamed:
        name, final = events_of(
            client.post("/apps/support-bot/chat/stream/", {"message": "How many?", "conversation_id": "c"})
        )[-1]
        assert name == "done", final
        return Request.objects.get(request_id=final["request_id"])
    response = client.post(
        "/api/v1/apps/support-bot/invocations",
        json.dumps({"messages": [{"role": "user", "content": "How many?"}]}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    return Request.objects.get(request_id=response.json()["request_id"])


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("odd", ODD_COUNTS, ids=repr)
def test_an_odd_usage_keeps_the_answer_and_the_counts_are_estimated(
    as_user, querier, http_app, server, odd, streamed
):
    server.usage = {"prompt_tokens": odd, "completion_tokens": odd, "total_tokens": odd}

    row = ask(as_user(querier), streamed)

    assert (row.status, row.response) == ("ok", "Echo (1 messages): How many?")
    assert (row.request_tokens, row.response_tokens, row.total_tokens) == ESTIMATED


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
def test_the_sound_counts_of_an_odd_usage_are_kept_and_only_the_odd_ones_estimated(
    as_user, querier, http_app, server, streamed
):
    server.usage = {"prompt_tokens": 40, "completion_tokens": -5}

    row = ask(as_user(querier), streamed)

    assert (row.request_tokens, row.response_tokens, row.total_tokens) == (40, 9, 49)


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
def test_counts_whose_sum_no_column_holds_are_all_estimated(as_user, querier, http_app, server, streamed):
    server.usage = {"prompt_tokens": 2_000_000_000, "completion_tokens": 2_000_000_000}

    row = ask(as_user(querier), streamed)

    assert (row.status, row.response) == ("ok", "Echo (1 messages): How many?")
    assert (row.request_tokens, row.response_tokens, row.total_tokens) == ESTIMATED
