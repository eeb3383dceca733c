"""The HTTP endpoint adapter against a real OpenAI-compatible server on loopback."""

import socket
import time

import pytest

from reviewapp.catalog.models import App
from reviewapp.chains.adapters import ChainError, ChainResult, ChainTimeout, get_adapter
from reviewapp.chains.http_endpoint import HttpEndpointAdapter, endpoint_url
from tests.chains.openai_server import OpenAIServer

MESSAGES = [
    {"role": "user", "content": "How do I rotate a token?"},
    {"role": "assistant", "content": "Open Settings."},
    {"role": "user", "content": "And then?"},
]


@pytest.fixture
def server():
    with OpenAIServer() as srv:
        yield srv


def adapter_for(url: str, **config) -> HttpEndpointAdapter:
    return get_adapter(App(slug="x", adapter=App.Adapter.HTTP, adapter_config={"url": url, **config}))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_it_sends_the_whole_history_and_returns_the_answer_with_the_servers_token_counts(server):
    result = adapter_for(server.url, kind="openai", model="small").invoke(MESSAGES, timeout=5)

    assert result.response == "Echo (3 messages): And then?"
    assert server.requests[0]["path"] == "/v1/chat/completions"
    assert server.requests[0]["body"]["messages"] == MESSAGES
    assert server.requests[0]["body"]["model"] == "small"
    assert (result.request_tokens, result.response_tokens, result.total_tokens) == (7, 5, 12)


def test_it_streams_tokens_as_the_server_sends_them(server):
    server.chunk_delay = 0.05
    arrivals = []
    items = []
    for item in adapter_for(server.url + "/v1/chat/completions").stream(MESSAGES, timeout=5):
        arrivals.append(time.monotonic())
        items.append(item)

    deltas, final = items[:-1], items[-1]
    assert deltas == ["Echo", " (3", " messages):", " And", " then?"]
    assert isinstance(final, ChainResult)
    assert final.response == "Echo (3 messages): And then?"
    assert final.total_tokens == 12
    # Deltas arrive spread out, not all at once at the end.
    assert arrivals[3] - arrivals[0] >= 0.1
    assert server.requests[0]["body"]["stream"] is True


def test_it_sends_the_secret_header_from_the_environment_variable_named_in_the_config(server, monkeypatch):
    server.required_header = ("Authorization", "Bearer sk-test-123")
    monkeypatch.setenv("CHAIN_SECRET_SUPPORT_BOT", "sk-test-123")

    adapter = adapter_for(server.url, secret_header="Authorization", secret_env="CHAIN_SECRET_SUPPORT_BOT")

    assert adapter.invoke(MESSAGES, timeout=5).response.startswith("Echo")


def test_a_missing_secret_variable_is_a_chain_error_naming_the_variable(server, monkeypatch):
    monkeypatch.delenv("CHAIN_SECRET_SUPPORT_BOT", raising=False)
    adapter = adapter_for(server.url, secret_header="Authorization", secret_env="CHAIN_SECRET_SUPPORT_BOT")

    with pytest.raises(ChainError, match="CHAIN_SECRET_SUPPORT_BOT"):
        adapter.invoke(MESSAGES, timeout=5)
    assert server.requests == []


def test_a_wrong_secret_is_a_chain_error_with_the_servers_message(server, monkeypatch):
    server.required_header = ("Authorization", "Bearer right")
    monkeypatch.setenv("CHAIN_SECRET_SUPPORT_BOT", "wrong")
    adapter = adapter_for(server.url, secret_header="Authorization", secret_env="CHAIN_SECRET_SUPPORT_BOT")

    with pytest.raises(ChainError, match="HTTP 401.*missing or wrong API key"):
        adapter.invoke(MESSAGES, timeout=5)


def test_a_failing_server_is_a_chain_error_with_its_status_and_message(server):
    server.fail_status = 503

    with pytest.raises(ChainError, match="HTTP 503.*overloaded"):
        adapter_for(server.url).invoke(MESSAGES, timeout=5)
    with pytest.raises(ChainError, match="HTTP 503"):
        list(adapter_for(server.url).stream(MESSAGES, timeout=5))


def test_a_stream_of_something_else_than_chunks_is_a_chain_error(server):
    server.stream_garbage = True

    with pytest.raises(ChainError, match="not a chunk"):
        list(adapter_for(server.url).stream(MESSAGES, timeout=5))


def test_a_slow_server_times_out_with_a_clear_message(server):
    server.delay = 2.0
    started = time.monotonic()

    with pytest.raises(ChainTimeout, match="did not answer within 0.5 s"):
        adapter_for(server.url).invoke(MESSAGES, timeout=0.5)
    assert time.monotonic() - started < 1.5


def test_a_stream_slower_than_the_timeout_is_cut_off_keeping_what_came_in_time(server):
    server.chunk_delay = 0.3

    *deltas, result = adapter_for(server.url).stream(MESSAGES, timeout=0.5)

    assert deltas and result.response == "".join(deltas) != "Echo (3 messages): And then?"
    assert not result.complete
    assert result.incomplete_reason == "The chain did not finish answering within 0.5 s"


def test_an_unreachable_server_is_a_chain_error_naming_the_url():
    url = f"http://127.0.0.1:{free_port()}"

    with pytest.raises(ChainError, match=f"Could not reach the chain at {url}/v1/chat/completions"):
        adapter_for(url).invoke(MESSAGES, timeout=2)


def test_a_url_that_is_not_http_is_a_chain_error():
    with pytest.raises(ChainError, match="not an http"):
        adapter_for("file:///etc/passwd").invoke(MESSAGES, timeout=2)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"url": "http://h:1"}, "http://h:1/v1/chat/completions"),
        ({"url": "http://h:1/v1"}, "http://h:1/v1/chat/completions"),
        ({"url": "http://h:1/v1/chat/completions"}, "http://h:1/v1/chat/completions"),
        ({"url": "http://h:1/invocations"}, "http://h:1/invocations"),
        ({"url": "http://h:1", "kind": "mlflow"}, "http://h:1/invocations"),
    ],
)
def test_it_finds_the_endpoint_path_from_the_kind_or_the_url(config, expected):
    assert endpoint_url(config) == expected
