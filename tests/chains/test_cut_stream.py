"""Streams that end before the answer is finished (cut, timed out, an error part-way), and answers that
are not UTF-8 or not JSON, from a real server."""

import pytest

from reviewapp.catalog.models import App
from reviewapp.chains.adapters import ChainError, ChainResult, ChainTimeout, get_adapter
from tests.chains.openai_server import OpenAIServer

MESSAGES = [{"role": "user", "content": "one two three four five"}]


@pytest.fixture
def server():
    with OpenAIServer() as srv:
        yield srv


def stream(server) -> tuple[list[str], ChainResult]:
    return stream_within(server, timeout=5)


def stream_within(server, *, timeout: float) -> tuple[list[str], ChainResult]:
    adapter = get_adapter(App(slug="x", adapter=App.Adapter.HTTP, adapter_config={"url": server.url}))
    items = list(adapter.stream(MESSAGES, timeout=timeout))
    assert isinstance(items[-1], ChainResult)
    return items[:-1], items[-1]


def invoke(server) -> ChainResult:
    adapter = get_adapter(App(slug="x", adapter=App.Adapter.HTTP, adapter_config={"url": server.url}))
    return adapter.invoke(MESSAGES, timeout=5)


def test_a_whole_stream_is_complete():
    with OpenAIServer() as server:
        _deltas, result = stream(server)

    assert result.complete
    assert result.incomplete_reason == ""


def test_a_stream_closed_before_done_is_the_partial_answer_marked_incomplete(server):
    server.cut_after = 3

    deltas, result = stream(server)

    assert deltas == ["Echo", " (1", " messages):"]
    assert result.response == "Echo (1 messages):"
    assert not result.complete
    assert result.incomplete_reason == (
        "The chain's stream broke off before the answer was finished: connection closed"
    )


def test_a_stream_reset_mid_answer_is_incomplete_and_names_the_reset(server):
    server.cut_after = 2
    server.cut_with_reset = True

    _deltas, result = stream(server)

    assert result.response == "Echo (1"
    assert not result.complete
    assert result.incomplete_reason.startswith(
        "The chain's stream broke off before the answer was finished: "
    )
    assert "reset" in result.incomplete_reason.lower()


@pytest.mark.parametrize("reset", [False, True])
def test_a_stream_that_broke_off_before_any_text_is_an_error(server, reset):
    server.cut_after = 0
    server.cut_with_reset = reset

    with pytest.raises(ChainError, match="stream broke off"):
        stream(server)


@pytest.mark.parametrize("reset", [False, True])
def test_a_finish_reason_then_the_end_without_done_is_complete(server, reset):
    server.skip_done = True
    server.cut_with_reset = reset

    deltas, result = stream(server)

    assert "".join(deltas) == result.response == "Echo (1 messages): one two three four five"
    assert result.complete


def test_the_usage_a_stream_reports_is_the_results_not_an_estimate(server):
    server.usage = {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}

    _deltas, result = stream(server)

    assert (result.request_tokens, result.response_tokens, result.total_tokens) == (11, 3, 14)


def test_a_whole_answer_that_is_not_utf8_says_so_and_where(server):
    body = b'{"choices": [{"message": {"content": "caf\xe9"}}]}'
    server.raw_answer = (200, {"Content-Type": "application/json"}, body)

    with pytest.raises(ChainError) as caught:
        invoke(server)

    position = body.index(b"\xe9")
    assert str(caught.value) == (
        f"The chain's answer was not UTF-8 text (byte 0xe9 at position {position}); a JSON answer must be UTF-8"
    )


def test_a_streamed_line_that_is_not_utf8_before_any_text_is_an_error_saying_where(server):
    server.stream_raw = b"data: \xff\xfe\n\n"
    server.raw_after = 0

    with pytest.raises(ChainError) as caught:
        stream(server)

    assert str(caught.value) == (
        "The chain streamed a line that was not UTF-8 text (byte 0xff at position 6); a stream must be UTF-8"
    )


def test_a_streamed_line_that_is_not_utf8_after_some_text_leaves_the_partial_answer(server):
    server.stream_raw = b"data: \xff\xfe\n\n"

    deltas, result = stream(server)

    assert deltas == ["Echo"] and result.response == "Echo"
    assert not result.complete
    assert (
        result.incomplete_reason == "The chain's stream was not UTF-8 text part-way (byte 0xff at position 6)"
    )


def test_an_error_chunk_after_some_text_leaves_the_partial_answer_with_its_message(server):
    server.stream_raw = b'data: {"error": {"message": "the model is overloaded"}}\n\n'
    server.raw_after = 2

    _deltas, result = stream(server)

    assert (result.response, result.complete) == ("Echo (1", False)
    assert result.incomplete_reason == "The chain reported an error part-way: the model is overloaded"


def test_an_error_chunk_before_any_text_is_an_error(server):
    server.stream_raw = b'data: {"error": {"message": "the model is overloaded"}}\n\n'
    server.raw_after = 0

    with pytest.raises(ChainError, match="^The chain failed while answering: the model is overloaded$"):
        stream(server)


def test_a_chunk_that_is_not_json_after_some_text_leaves_the_partial_answer(server):
    server.stream_raw = b"data: {not json\n\n"

    _deltas, result = stream(server)

    assert (result.response, result.complete) == ("Echo", False)
    assert result.incomplete_reason == "The chain streamed something that is not JSON (9 characters) part-way"


def test_a_stream_that_stalls_after_some_text_leaves_the_partial_answer_at_the_timeout(server):
    server.stall_after = 2
    server.stall_seconds = 3

    deltas, result = stream_within(server, timeout=1)

    assert deltas == ["Echo", " (1"]
    assert (result.response, result.complete) == ("Echo (1", False)
    assert result.incomplete_reason == "The chain did not finish answering within 1 s"


def test_a_stream_that_stalls_before_any_text_times_out(server):
    server.stall_after = 0
    server.stall_seconds = 3

    with pytest.raises(ChainTimeout, match="^The chain did not finish answering within 1 s$"):
        stream_within(server, timeout=1)


def test_a_finished_answer_whose_usage_comes_after_the_deadline_is_complete(server):
    # The finish_reason comes at about 1.5 s, the usage chunk at about 2.5 s: after the 2 s deadline,
    # yet before a read would time out.
    server.answer = "one two three four five"
    server.chunk_delay = 0.3
    server.usage_delay = 1.0

    deltas, result = stream_within(server, timeout=2)

    assert "".join(deltas) == result.response == "one two three four five"
    assert result.complete and result.incomplete_reason == ""


def test_a_finished_answer_whose_usage_never_comes_is_complete(server):
    server.usage_delay = 3

    deltas, result = stream_within(server, timeout=1)

    assert "".join(deltas) == result.response == "Echo (1 messages): one two three four five"
    assert result.complete
    assert result.request_tokens is None  # the usage never came: the request log estimates it


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\xff\xfe"
LATIN1_PAGE = "<!DOCTYPE html><html><body>Caf\xe9 ferm\xe9</body></html>".encode("latin-1")


@pytest.mark.parametrize(
    ("content_type", "body", "described"),
    [
        ("image/png", PNG, f"a image/png body of {len(PNG)} bytes"),
        ("text/html; charset=iso-8859-1", LATIN1_PAGE, f"an HTML page of {len(LATIN1_PAGE)} bytes"),
        (None, LATIN1_PAGE, f"an HTML page of {len(LATIN1_PAGE)} bytes"),
    ],
    ids=["png", "latin1-html", "untyped-html"],
)
def test_a_success_body_that_is_not_text_json_is_described_by_what_it_is(
    server, content_type, body, described
):
    server.raw_answer = (200, {"Content-Type": content_type} if content_type else {}, body)

    with pytest.raises(ChainError) as caught:
        invoke(server)

    assert str(caught.value) == f"The chain's answer was not JSON but {described}"


@pytest.mark.parametrize("content_type", [None, "application/json; charset=latin-1"])
@pytest.mark.parametrize("body", [b'  {"response": "caf\xe9"}', b'\n["caf\xe9"]'], ids=["object", "list"])
def test_json_that_is_not_utf8_says_where_whether_or_not_it_is_typed(server, content_type, body):
    server.raw_answer = (200, {"Content-Type": content_type} if content_type else {}, body)

    with pytest.raises(ChainError) as caught:
        invoke(server)

    assert str(caught.value) == (
        f"The chain's answer was not UTF-8 text (byte 0xe9 at position {body.index(b'\xe9')}); "
        "a JSON answer must be UTF-8"
    )
