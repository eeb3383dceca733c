"""A chain's unexpected answer is described in errors (status, type, size, a short message), never echoed.

Errors are shown to users and kept in the request log; the endpoint may be someone else's service.
"""

import json

import pytest

from reviewapp.catalog.models import App
from reviewapp.chains.adapters import ChainError, get_adapter
from reviewapp.requestlog.models import Request
from reviewapp.requestlog.services import run_turn, stream_turn
from tests.chains.openai_server import OpenAIServer

MESSAGES = [{"role": "user", "content": "Hello?"}]
SECRET = "sk-live-0123456789abcdef"
HTML_PAGE = (
    b"<!DOCTYPE html><html><body><h1>Jenkins</h1><p>token: " + SECRET.encode() + b"</p>" + b" " * 12_000
    + b"</body></html>"
)  # fmt: skip


@pytest.fixture
def server():
    with OpenAIServer() as srv:
        yield srv


def error_of(server, *, stream=False) -> str:
    adapter = get_adapter(App(slug="x", adapter=App.Adapter.HTTP, adapter_config={"url": server.url}))
    with pytest.raises(ChainError) as exc:
        if stream:
            list(adapter.stream(MESSAGES, timeout=5))
        else:
            adapter.invoke(MESSAGES, timeout=5)
    return str(exc.value)


@pytest.mark.parametrize("stream", [False, True])
def test_an_html_error_page_is_described_by_its_status_and_size(server, stream):
    server.raw_answer = (502, {"Content-Type": "text/html; charset=utf-8"}, HTML_PAGE)

    error = error_of(server, stream=stream)

    assert error == f"The chain answered HTTP 502 with an HTML page of {len(HTML_PAGE):,} bytes"


def test_a_json_error_shows_only_its_message_cut_short_and_without_control_characters(server):
    body = {"error": {"message": "quota\x1b[31m exceeded\u202e " + "x" * 500, "debug": SECRET}}
    server.raw_answer = (429, {"Content-Type": "application/json"}, json.dumps(body).encode())

    error = error_of(server)

    assert error.startswith("The chain answered HTTP 429 with JSON of ")
    assert ": quota [31m exceeded x" in error
    assert SECRET not in error and "\x1b" not in error and "\u202e" not in error
    assert len(error) < 300


def test_a_json_error_without_a_message_is_described_not_echoed(server):
    body = json.dumps({"env": SECRET}).encode()
    server.raw_answer = (500, {"Content-Type": "application/json"}, body)

    assert error_of(server) == f"The chain answered HTTP 500 with JSON of {len(body)} bytes"


def test_a_success_that_is_not_json_is_described(server):
    server.raw_answer = (200, {"Content-Type": "text/html"}, HTML_PAGE)

    assert error_of(server) == f"The chain's answer was not JSON but an HTML page of {len(HTML_PAGE):,} bytes"


def test_json_of_another_shape_is_described_by_its_keys(server):
    server.raw_answer = (200, {"Content-Type": "application/json"}, json.dumps({"config": SECRET}).encode())

    error = error_of(server)

    assert (
        error
        == "The chain's answer was neither a string nor a chat completion: a JSON object with keys config"
    )


def test_a_stream_of_something_else_is_described(server):
    server.raw_answer = (200, {"Content-Type": "text/event-stream"}, f"data: {SECRET}\n\n".encode())
    assert SECRET not in error_of(server, stream=True)

    server.raw_answer = (
        200,
        {"Content-Type": "text/event-stream"},
        f"data: {json.dumps({'error': {'message': 'overloaded', 'trace': SECRET}})}\n\n".encode(),
    )
    assert error_of(server, stream=True) == "The chain failed while answering: overloaded"


def test_deeply_nested_json_is_an_error_not_a_crash(server):
    # Under ERROR_BODY_BYTES, so that the body is parsed (a longer one is cut, and not parsed).
    server.raw_answer = (500, {"Content-Type": "application/json"}, b"[" * 50_000)

    assert error_of(server) == "The chain answered HTTP 500 with JSON of 50,000 bytes"


@pytest.mark.parametrize("streaming", [False, True])
def test_the_request_log_keeps_the_description_not_the_body(app, querier, server, streaming):
    app.adapter = App.Adapter.HTTP
    app.adapter_config = {"url": server.url}
    app.save()
    server.raw_answer = (500, {"Content-Type": "text/html"}, HTML_PAGE)

    if streaming:
        list(stream_turn(app=app, user=querier, source="review_app", messages=MESSAGES))
    else:
        run_turn(app=app, user=querier, source="review_app", messages=MESSAGES)

    row = Request.objects.get()
    assert row.status == Request.Status.ERROR
    assert row.error == f"The chain answered HTTP 500 with an HTML page of {len(HTML_PAGE):,} bytes"
    assert SECRET not in json.dumps(list(Request.objects.values()), default=str)
