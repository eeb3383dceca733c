"""A streamed answer from a server that keeps its connections open (a chunked body, as most real
servers send) leaves the connection fit for the next call, and a stream's end is never waited for."""

import time

import pytest

from reviewapp.catalog.models import App
from reviewapp.chains.adapters import ChainResult, get_adapter
from reviewapp.chains.http_endpoint import END_OF_BODY_SECONDS
from tests.chains.openai_server import OpenAIServer

MESSAGES = [{"role": "user", "content": "How do I rotate a token?"}]
ANSWER = "Echo (1 messages): How do I rotate a token?"


@pytest.fixture
def server():
    with OpenAIServer() as srv:
        srv.keep_alive_streams = True
        yield srv


def adapter_for(server: OpenAIServer):
    return get_adapter(App(slug="x", adapter=App.Adapter.HTTP, adapter_config={"url": server.url}))


def whole_answer(server: OpenAIServer) -> ChainResult:
    *deltas, final = adapter_for(server).stream(MESSAGES, timeout=5)
    assert "".join(deltas) == final.response
    return final


def test_streamed_answers_one_after_another_are_whole_and_share_one_connection(server):
    finals = [whole_answer(server) for _ in range(5)]
    answered = adapter_for(server).invoke(MESSAGES, timeout=5)

    assert [(f.response, f.complete) for f in finals] == [(ANSWER, True)] * 5
    assert answered.response == ANSWER
    assert server.connections == 1


def test_a_body_that_ends_a_little_after_its_done_still_leaves_the_connection_for_the_next_call(server):
    server.end_delay = END_OF_BODY_SECONDS / 5

    finals = [whole_answer(server) for _ in range(3)]

    assert [f.complete for f in finals] == [True] * 3
    assert server.connections == 1


def test_a_body_that_never_ends_after_its_done_is_not_waited_for_and_its_connection_is_not_reused(server):
    server.end_delay = None  # the server holds the connection open for a second, then drops it

    started = time.monotonic()
    first = whole_answer(server)
    waited = time.monotonic() - started
    second = whole_answer(server)

    assert (first.response, first.complete) == (ANSWER, True)
    assert waited < 0.5
    assert (second.response, second.complete) == (ANSWER, True)
    assert server.connections == 2
