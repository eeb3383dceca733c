"""A small, real OpenAI-compatible chat server on loopback, for tests and the overhead benchmark.

It answers `POST /v1/chat/completions` with "Echo (<n> messages): <last user message>", as one
JSON object or, with `"stream": true`, as SSE chunks of one word each. Knobs on the instance:
`delay` (seconds before answering), `chunk_delay` (between streamed words), `fail_status` (answer
that HTTP error instead), `stream_garbage` (stream a non-chunk), `required_header` ((name, value)
to demand), `raw_answer` ((status, headers, body) to send instead of any chat answer, e.g. a
redirect or an HTML error page), `answer` (text to answer instead of the echo), `cut_after` (stream
that many words, then close the connection: no finish_reason, no [DONE]; 0 closes before any),
`cut_with_reset` (close it with a TCP reset rather than a clean close), `skip_done` (stream the
finish_reason, then close without [DONE]; reset with `cut_with_reset`), `stream_raw` (bytes sent
as-is after `raw_after` words, 1 unless set), `stall_after` (stream that many words, then wait
`stall_seconds` before the rest), `usage_delay` (seconds between the finish_reason and the usage
chunk), `usage` (the token counts to report instead of the server's own; any JSON, Infinity too),
`keep_alive_streams` (stream as most real servers do: a chunked body on a connection kept open for
the next request, rather than closing it), `end_delay` (with it: seconds between [DONE] and the
body's last, empty chunk; None: never send it). `connections` counts the connections accepted.
`reply` (a function of the messages giving the answer: a judge model's rule, say). `requests` keeps
what came in.
"""

import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def answer_for(messages: list[dict]) -> str:
    last = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
    return f"Echo ({len(messages)} messages): {last}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # As real servers do: without it, headers and body leave as two packets and the second waits
    # for the client's delayed ACK (~40 ms), which would swamp what the benchmark measures.
    disable_nagle_algorithm = True
    server: "OpenAIServer"

    def log_message(self, *args):  # keep test output clean
        pass

    def setup(self):
        super().setup()
        self.server.connections += 1

    def _send(self, data: bytes) -> None:
        """Part of a streamed body: a chunk of a chunked body when streams keep their connection."""
        if self.server.keep_alive_streams and data:
            data = b"%x\r\n%s\r\n" % (len(data), data)
        self.wfile.write(data)

    def _json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        try:
            self._answer()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away mid-answer, as clients may

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        owner = self.server
        owner.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        if owner.raw_answer:
            status, headers, data = owner.raw_answer
            self.send_response(status)
            for name, value in {"Content-Length": str(len(data)), **headers}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            return None
        if self.path.rstrip("/") != "/v1/chat/completions":
            return self._json(404, {"error": {"message": f"no route {self.path}"}})
        if owner.required_header:
            name, value = owner.required_header
            if self.headers.get(name) != value:
                return self._json(401, {"error": {"message": "missing or wrong API key"}})
        if owner.delay:
            time.sleep(owner.delay)
        if owner.fail_status:
            return self._json(owner.fail_status, {"error": {"message": "the model is overloaded"}})
        if owner.reply is not None:
            text = owner.reply(body.get("messages") or [])
        else:
            text = answer_for(body.get("messages") or []) if owner.answer is None else owner.answer
        usage = owner.usage or {
            "prompt_tokens": 7,
            "completion_tokens": len(text.split()),
            "total_tokens": 7 + len(text.split()),
        }
        if not body.get("stream"):
            return self._json(
                200,
                {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model", ""),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                },
            )
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        if owner.keep_alive_streams:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
        self.end_headers()
        if owner.stream_garbage:
            self._send(b"data: [1, 2, 3]\n\n")
            self.close_connection = True
            return
        words = text.split(" ")
        for n, word in enumerate(words):
            if owner.cut_after is not None and n >= owner.cut_after:
                return self._cut()
            if n == owner.raw_after and owner.stream_raw is not None:
                self._send(owner.stream_raw)
                self.wfile.flush()
            if n == owner.stall_after:
                time.sleep(owner.stall_seconds)
            piece = word if n == 0 else " " + word
            self._chunk({"index": 0, "delta": {"content": piece}})
            if owner.chunk_delay:
                time.sleep(owner.chunk_delay)
        if owner.cut_after is not None:
            return self._cut()
        self._chunk({"index": 0, "delta": {}, "finish_reason": "stop"})
        if owner.usage_delay:
            time.sleep(owner.usage_delay)
        if (body.get("stream_options") or {}).get("include_usage"):
            self._send(f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n".encode())
        if owner.skip_done:
            return self._cut()
        self._send(b"data: [DONE]\n\n")
        self.wfile.flush()
        if not owner.keep_alive_streams:
            self.close_connection = True
            return None
        if owner.end_delay is None:
            # A body that never ends: the client must not wait for it, nor reuse the connection.
            self.close_connection = True
            time.sleep(1)
            return None
        time.sleep(owner.end_delay)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _chunk(self, choice: dict) -> None:
        chunk = {"object": "chat.completion.chunk", "choices": [choice]}
        self._send(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.flush()

    def _cut(self) -> None:
        """The connection dropped mid-answer, as by a crashed or restarted server."""
        self.wfile.flush()
        if self.server.cut_with_reset:
            # Linger 0: close() sends a reset instead of a clean end of stream.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        self.close_connection = True


class LoopbackServer(ThreadingHTTPServer):
    """A test server on 127.0.0.1, served from a thread while inside `with`."""

    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler]):
        super().__init__(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()


class OpenAIServer(LoopbackServer):
    def __init__(self):
        super().__init__(_Handler)
        self.requests: list[dict] = []
        self.delay = 0.0
        self.chunk_delay = 0.0
        self.fail_status = 0
        self.stream_garbage = False
        self.required_header: tuple[str, str] | None = None
        self.raw_answer: tuple[int, dict, bytes] | None = None
        self.answer: str | None = None
        self.reply = None  # a function of the messages giving the answer, instead of `answer`
        self.usage: dict | None = None
        self.cut_after: int | None = None
        self.cut_with_reset = False
        self.skip_done = False
        self.stream_raw: bytes | None = None
        self.raw_after = 1
        self.stall_after: int | None = None
        self.stall_seconds = 0.0
        self.usage_delay = 0.0
        self.keep_alive_streams = False
        self.end_delay: float | None = 0.0
        self.connections = 0
