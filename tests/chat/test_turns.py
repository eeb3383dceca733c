"""The turn service: a turn through a real chain server, logged to the request log."""

import time

from reviewapp.catalog.models import App
from reviewapp.chains.adapters import ChainTimeout
from reviewapp.chains.base import ChainError
from reviewapp.requestlog.models import Request
from reviewapp.requestlog.services import Turn, approximate_tokens, run_turn, stream_turn

QUESTION = [{"role": "user", "content": "How do I rotate a token?"}]


def test_a_turn_is_logged_with_the_answer_the_tokens_and_the_latency(http_app, querier, server):
    server.delay = 0.2

    turn = run_turn(app=http_app, user=querier, source="review_app", messages=QUESTION, conversation_id="c1")

    assert turn.error is None
    row = Request.objects.get(pk=turn.request.pk)
    assert row.response == "Echo (1 messages): How do I rotate a token?"
    assert row.conversation_id == "c1"
    assert row.source == "review_app"
    assert row.total_tokens == 16
    assert 200 <= row.latency_ms < 2000


def test_a_turn_without_a_conversation_gets_a_new_one(http_app, querier):
    first = run_turn(app=http_app, user=querier, source="rest_api", messages=QUESTION)
    second = run_turn(app=http_app, user=querier, source="rest_api", messages=QUESTION)

    assert first.request.conversation_id and second.request.conversation_id
    assert first.request.conversation_id != second.request.conversation_id


def test_a_failed_turn_is_logged_as_error_with_the_error_text(http_app, querier, server):
    server.fail_status = 503

    turn = run_turn(app=http_app, user=querier, source="review_app", messages=QUESTION)

    assert isinstance(turn.error, ChainError)
    row = Request.objects.get(pk=turn.request.pk)
    assert row.status == Request.Status.ERROR
    assert "HTTP 503" in row.error and "overloaded" in row.error
    assert row.messages == QUESTION
    assert row.response == ""


def test_a_slow_chain_is_cut_off_at_the_apps_timeout(http_app, querier, server):
    server.delay = 3
    http_app.timeout_seconds = 1
    started = time.monotonic()

    turn = run_turn(app=http_app, user=querier, source="review_app", messages=QUESTION)

    assert isinstance(turn.error, ChainTimeout)
    assert time.monotonic() - started < 2.5
    assert "within 1 s" in turn.request.error


def test_streaming_yields_deltas_then_the_logged_turn(http_app, querier):
    items = list(stream_turn(app=http_app, user=querier, source="review_app", messages=QUESTION))

    *deltas, final = items
    assert isinstance(final, Turn)
    assert "".join(deltas) == final.request.response == Request.objects.get().response
    assert len(deltas) == 9


def test_a_stream_abandoned_by_its_reader_is_logged_incomplete_with_what_it_was_given(
    http_app, querier, server
):
    server.chunk_delay = 0.05
    events = stream_turn(app=http_app, user=querier, source="review_app", messages=QUESTION)

    assert next(events) == "Echo"
    assert next(events) == " (1"
    events.close()

    row = Request.objects.get()
    assert (row.status, row.response) == (Request.Status.INCOMPLETE, "Echo (1")
    assert "abandoned" in row.error
    assert row.response_tokens == 3  # estimated from the partial answer


def test_an_http_app_without_a_url_fails_with_a_clear_logged_error(app, querier):
    app.adapter = App.Adapter.HTTP
    app.adapter_config = {}

    turn = run_turn(app=app, user=querier, source="review_app", messages=QUESTION)

    assert "not an http(s) URL" in turn.request.error


def test_the_token_approximation_counts_words_and_punctuation():
    assert approximate_tokens("Open Settings, then API tokens.") == 7
    assert approximate_tokens("") == 0
