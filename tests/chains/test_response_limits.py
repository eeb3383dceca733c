"""A chain's answer is read up to CHAIN_MAX_RESPONSE_BYTES, an error body only far enough to describe it.

The servers here make their 100 MiB bodies as they send them and count what they managed to send
before the client hung up: a client that read on would show, and so would one that kept the
connection open (the server would never finish).
"""

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler

import pytest
from django.test import override_settings

from reviewapp.catalog.models import App
from reviewapp.chains.adapters import ChainError, ChainResult, get_adapter
from reviewapp.requestlog.models import Request
from tests.chains.openai_server import LoopbackServer, OpenAIServer

MESSAGES = [{"role": "user", "content": "Hello?"}]
CAP = 4096
HUGE = 100 * 1024 * 1024
BLOCK = 16 * 1024
# What may still be in flight when the client hangs up: loopback socket buffers, a few MiB at most.
IN_FLIGHT = 16 * 1024 * 1024
TOO_LARGE = "The chain's answer was larger than 4 KiB (CHAIN_MAX_RESPONSE_BYTES); nothing of it was kept"
STREAM_TOO_LARGE = (
    "The chain's answer was larger than 4 KiB (CHAIN_MAX_RESPONSE_BYTES); its stream was stopped there"
)

JSON_HEAD = b'{"choices": [{"message": {"role": "assistant", "content": "'
JSON_TAIL = b'"}}]}'
DELTA = b'data: {"choices": [{"delta": {"content": "word "}}]}\n\n'


def json_answer(size: int) -> Iterator[bytes]:
    """A chat completion of exactly `size` bytes whose content is x's."""
    left = size - len(JSON_HEAD) - len(JSON_TAIL)
    yield JSON_HEAD
    while left:
        yield b"x" * min(BLOCK, left)
        left -= min(BLOCK, left)
    yield JSON_TAIL


def endless(head: bytes, block: bytes) -> Iterator[bytes]:
    """`head`, then `block` again and again, to HUGE bytes."""
    yield head
    for _ in range(HUGE // len(block)):
        yield block


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "LazyServer"

    def log_message(self, *args):  # keep test output clean
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        owner = self.server
        status, headers, blocks = owner.answer
        chunked = headers.get("Transfer-Encoding") == "chunked"
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if not chunked and "Content-Length" not in headers:
            self.send_header("Connection", "close")  # the body ends when the connection does
        self.end_headers()
        try:
            self.wfile.flush()
            time.sleep(owner.pause)
            for block in blocks():
                self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block) if chunked else block)
                owner.sent += len(block)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client hung up, as it should have
        finally:
            owner.finished.set()


class LazyServer(LoopbackServer):
    """Answers every POST with `answer`: (status, headers, a callable making the body's blocks)."""

    def __init__(self):
        super().__init__(_Handler)
        self.answer: tuple[int, dict, Callable[[], Iterator[bytes]]] = (200, {}, lambda: iter(()))
        self.pause = 0.0
        self.sent = 0
        self.finished = threading.Event()

    def stopped_early(self) -> bool:
        """The answer ended (the client hung up) and only a little of the 100 MiB was sent."""
        return self.finished.wait(timeout=10) and self.sent < IN_FLIGHT


@pytest.fixture
def lazy():
    with LazyServer() as srv:
        yield srv


@pytest.fixture
def capped():
    with override_settings(CHAIN_MAX_RESPONSE_BYTES=CAP):
        yield


def adapter_for(url: str):
    return get_adapter(App(slug="x", adapter=App.Adapter.HTTP, adapter_config={"url": url}))


def json_headers(framing: str, size: int) -> dict:
    if framing == "length":
        return {"Content-Type": "application/json", "Content-Length": str(size)}
    return {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}


def answer_of(url: str, *, stream: bool) -> str:
    adapter = adapter_for(url)
    if stream:
        *_, result = adapter.stream(MESSAGES, timeout=5)
        assert isinstance(result, ChainResult)
        return result.response
    return adapter.invoke(MESSAGES, timeout=5).response


def error_of(url: str, *, stream: bool) -> tuple[str, list[str]]:
    """The chain error, and the deltas streamed before it."""
    deltas: list[str] = []
    adapter = adapter_for(url)
    with pytest.raises(ChainError) as exc:
        if stream:
            for item in adapter.stream(MESSAGES, timeout=5):
                deltas.append(item)
        else:
            adapter.invoke(MESSAGES, timeout=5)
    return str(exc.value), deltas


# --- whole answers ---


@pytest.mark.parametrize("stream", [False, True])  # stream: a server that answers JSON anyway
@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_a_json_answer_past_the_cap_is_refused_and_the_connection_closed(lazy, capped, framing, stream):
    lazy.answer = (200, json_headers(framing, HUGE), lambda: json_answer(HUGE))

    error, _ = error_of(lazy.url, stream=stream)

    assert error == TOO_LARGE
    assert lazy.stopped_early(), lazy.sent


def test_an_answer_announced_larger_than_the_cap_is_refused_before_its_body_comes(lazy, capped):
    lazy.pause = 3  # the body would come only after this
    lazy.answer = (200, json_headers("length", HUGE), lambda: json_answer(HUGE))
    started = time.monotonic()

    error, _ = error_of(lazy.url, stream=False)

    assert error == TOO_LARGE
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_an_answer_of_exactly_the_cap_is_read_and_one_byte_more_is_not(lazy, capped, framing):
    lazy.answer = (200, json_headers(framing, CAP), lambda: json_answer(CAP))
    assert answer_of(lazy.url, stream=False) == "x" * (CAP - len(JSON_HEAD) - len(JSON_TAIL))

    lazy.answer = (200, json_headers(framing, CAP + 1), lambda: json_answer(CAP + 1))
    assert error_of(lazy.url, stream=False)[0] == TOO_LARGE

    # The refused answer's connection did not go back to the pool half-read: the next call is clean.
    lazy.answer = (200, json_headers(framing, 100), lambda: json_answer(100))
    assert answer_of(lazy.url, stream=False) == "x" * (100 - len(JSON_HEAD) - len(JSON_TAIL))


@pytest.mark.parametrize("stream", [False, True])
def test_normal_answers_under_the_cap_still_work(capped, stream):
    with OpenAIServer() as server:
        assert answer_of(server.url, stream=stream) == "Echo (1 messages): Hello?"


# --- error bodies ---


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_a_huge_error_body_is_described_from_its_start_only(lazy, capped, framing, stream):
    headers = json_headers(framing, HUGE) | {"Content-Type": "text/html"}
    lazy.answer = (500, headers, lambda: endless(b"<!DOCTYPE html><html><body>", b"<p>oops</p>" * 1000))

    error, _ = error_of(lazy.url, stream=stream)

    assert error == "The chain answered HTTP 500 with an HTML page of at least 4,097 bytes"
    assert lazy.stopped_early(), lazy.sent


def test_an_error_body_is_read_only_64_kib_far_even_under_a_larger_cap(lazy):
    headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    lazy.answer = (500, headers, lambda: endless(b'{"error": {"message": "', b"x" * BLOCK))

    error, _ = error_of(lazy.url, stream=False)

    assert error == "The chain answered HTTP 500 with JSON of at least 65,537 bytes"
    assert lazy.stopped_early(), lazy.sent


# --- streams ---


def test_a_stream_past_the_cap_is_stopped_there(lazy, capped):
    headers = {"Content-Type": "text/event-stream"}
    lazy.answer = (200, headers, lambda: endless(b"", DELTA * (BLOCK // len(DELTA))))

    error, deltas = error_of(lazy.url, stream=True)

    assert error == STREAM_TOO_LARGE
    assert deltas and set(deltas) == {"word "}
    assert len(deltas) == CAP // len(DELTA)  # every event within the cap, none after
    assert lazy.stopped_early(), lazy.sent


def test_a_stream_of_one_endless_line_is_stopped_at_the_cap(lazy, capped):
    headers = {"Content-Type": "text/event-stream"}
    lazy.answer = (200, headers, lambda: endless(b'data: {"choices": [{"delta": {"content": "', b"x" * BLOCK))

    error, deltas = error_of(lazy.url, stream=True)

    assert error == STREAM_TOO_LARGE
    assert deltas == []
    assert lazy.stopped_early(), lazy.sent


# --- the setting ---


def _start_django(**env) -> subprocess.CompletedProcess:
    code = "import django; django.setup(); from django.conf import settings; print(settings.CHAIN_MAX_RESPONSE_BYTES)"
    base = {k: v for k, v in os.environ.items() if k != "CHAIN_MAX_RESPONSE_BYTES"}
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**base, "DJANGO_SETTINGS_MODULE": "reviewapp.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_cap_is_10_mib_by_default_and_at_least_1024(tmp_path):
    assert _start_django(VAR_DIR=str(tmp_path)).stdout.strip() == "10485760"

    result = _start_django(VAR_DIR=str(tmp_path), CHAIN_MAX_RESPONSE_BYTES="1000")

    assert result.returncode != 0
    assert "ImproperlyConfigured: CHAIN_MAX_RESPONSE_BYTES must be at least 1024, not 1000" in result.stderr


# --- through the API ---


@pytest.mark.parametrize("stream", [False, True])
def test_the_api_answers_502_with_the_message_and_logs_the_turn_as_failed(
    as_user, querier, app, lazy, capped, stream
):
    app.adapter = App.Adapter.HTTP
    app.adapter_config = {"url": lazy.url}
    app.timeout_seconds = 5
    app.save()
    if stream:
        lazy.answer = (200, {"Content-Type": "text/event-stream"}, lambda: endless(b"", DELTA * 100))
    else:
        lazy.answer = (200, json_headers("chunked", HUGE), lambda: json_answer(HUGE))

    response = as_user(querier).post(
        f"/api/v1/apps/{app.slug}/invocations",
        data=json.dumps({"messages": MESSAGES, "stream": stream}),
        content_type="application/json",
    )

    if stream:
        assert response.status_code == 200  # the stream had begun; it ends with an error event
        last = b"".join(response.streaming_content).decode().strip().split("\n\n")[-1]
        name, data = (line.split(": ", 1)[1] for line in last.split("\n"))
        assert name == "error"
        body = json.loads(data)
        assert body["detail"] == STREAM_TOO_LARGE
    else:
        assert response.status_code == 502
        body = response.json()
        assert body["detail"] == TOO_LARGE
    row = Request.objects.get(request_id=body["request_id"])
    assert row.status == Request.Status.ERROR
    assert row.error == body["detail"]
    assert row.response == ""  # as for any failed turn: the partial stream is not kept
    assert lazy.stopped_early(), lazy.sent
