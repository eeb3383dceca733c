"""Chains behind an HTTP endpoint: an MLflow scoring server or an OpenAI-compatible server.

adapter_config: {"url": ..., "kind": "openai" | "mlflow", "model": ..., "secret_header": ...,
"secret_env": ...}. The secret itself is never stored: `secret_env` names the environment
variable that holds it, read at call time, and only if the egress policy allows that name
(egress.py). Every connection goes through the egress policy too, and redirects are refused, not
followed. A chain's unexpected answer is described (status, type, size), never echoed: the
endpoint may be someone else's service, and errors are shown to users and kept in the request log.
An answer is read up to CHAIN_MAX_RESPONSE_BYTES (a whole body, or a stream in total), an error body
only far enough to describe it: a hostile or broken endpoint cannot fill the web process's memory.
A stream that stops after some of the answer came but before a finish_reason or [DONE] (cut, timed
out, an error chunk, a line not UTF-8) is a partial answer (ChainResult.complete False), kept for
review; one that stopped before any text is a failure; one that stops after a finish_reason is whole.
"""

import contextlib
import json
import time
from collections.abc import Iterator
from urllib.parse import urlparse

import urllib3
from django.conf import settings
from urllib3.exceptions import HTTPError, NewConnectionError
from urllib3.exceptions import TimeoutError as PoolTimeout

from . import egress
from .base import ChainError, ChainResult, ChainTimeout, output_usage, response_text
from .describe import byte_size, clean_text, describe_body, error_message, json_shape, not_utf8

OPENAI = "openai"
MLFLOW = "mlflow"

# urllib3 rather than requests: a fraction of the per-call cost, and its pool is thread-safe.
# Keep-alive connections per host; no retries, so a failure is reported as it happened.
_pool = egress.pool_manager(num_pools=50, maxsize=16, block=False, retries=False)
# An error body is read this far at most: enough for its message, whatever its size.
ERROR_BODY_BYTES = 64 * 1024
_READ_BLOCK = 64 * 1024
# How long a stream that ended ([DONE]) may wait for the rest of its body: a chunked body's last,
# empty chunk, which comes right behind it. Read, it leaves the connection fit for the next call.
END_OF_BODY_SECONDS = 0.05


def kind_for(config: dict) -> str:
    """The server kind named in the config, else guessed from the URL path."""
    kind = (config.get("kind") or "").strip().lower()
    if kind in (OPENAI, MLFLOW):
        return kind
    path = urlparse(config.get("url", "")).path.rstrip("/")
    return MLFLOW if path.endswith("/invocations") else OPENAI


def endpoint_url(config: dict) -> str:
    """The URL to POST to; a bare base URL gets the kind's usual path."""
    url = (config.get("url") or "").strip()
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ChainError(f"The app's endpoint URL {url!r} is not an http(s) URL")
    path = parsed.path.rstrip("/")
    kind = kind_for(config)
    if kind == MLFLOW and not path.endswith("/invocations"):
        return url.rstrip("/") + "/invocations"
    if kind == OPENAI and not path.endswith("/chat/completions"):
        suffix = "/chat/completions" if path.endswith("/v1") else "/v1/chat/completions"
        return url.rstrip("/") + suffix
    return url


def secret_headers(config: dict) -> dict:
    header = (config.get("secret_header") or "").strip()
    env_name = (config.get("secret_env") or "").strip()
    if not header or not env_name:
        return {}
    value = egress.secret_value(env_name)
    # An API key alone in an Authorization header means a bearer token (OpenAI-style servers).
    if header.lower() == "authorization" and " " not in value.strip():
        value = f"Bearer {value.strip()}"
    return {header: value}


def _content_type(response: urllib3.BaseHTTPResponse) -> str:
    return clean_text((response.headers.get("Content-Type") or "").split(";", 1)[0].lower(), 60)


def _too_large(limit: int, what_happened: str) -> ChainError:
    return ChainError(
        f"The chain's answer was larger than {byte_size(limit)} (CHAIN_MAX_RESPONSE_BYTES); {what_happened}"
    )


def _discard(response: urllib3.BaseHTTPResponse) -> None:
    # Closed, not just released: a connection with part of a body still unread must not be reused.
    response.close()
    response.release_conn()


def _content_length(response: urllib3.BaseHTTPResponse) -> int | None:
    try:
        return int(response.headers.get("Content-Length", ""))
    except ValueError:
        return None


def _read_at_most(response: urllib3.BaseHTTPResponse, limit: int) -> bytes:
    """The body up to `limit` + 1 bytes, so that the caller can tell it was longer than `limit`."""
    data = bytearray()
    while len(data) <= limit:
        block = response.read(min(_READ_BLOCK, limit + 1 - len(data)))
        if not block:
            break
        data += block
    return bytes(data)


def _read_answer(response: urllib3.BaseHTTPResponse) -> bytes:
    """A success's whole body; refused past CHAIN_MAX_RESPONSE_BYTES, unread if announced larger."""
    limit = settings.CHAIN_MAX_RESPONSE_BYTES
    try:
        if (_content_length(response) or 0) > limit:
            raise _too_large(limit, "nothing of it was kept")
        data = _read_at_most(response, limit)
        if len(data) > limit:
            raise _too_large(limit, "nothing of it was kept")
    except BaseException:
        _discard(response)
        raise
    response.release_conn()
    return data


def _error_summary(response: urllib3.BaseHTTPResponse) -> str:
    """The error body described, from its first ERROR_BODY_BYTES at most; the connection is let go."""
    limit = min(ERROR_BODY_BYTES, settings.CHAIN_MAX_RESPONSE_BYTES)
    try:
        data = _read_at_most(response, limit)
    except BaseException:
        _discard(response)
        raise
    cut = len(data) > limit
    if cut:
        _discard(response)
    else:
        response.release_conn()
    content_type = _content_type(response)
    message = ""
    # A cut body would not parse anyway.
    if not cut and ("json" in content_type or data.lstrip()[:1] == b"{"):
        with contextlib.suppress(ValueError, RecursionError):
            message = error_message(json.loads(data))
    summary = f"HTTP {response.status} with {describe_body(data, content_type, cut=cut)}"
    return f"{summary}: {message}" if message else summary


def _json(data: bytes, content_type: str):
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        # Where the body is meant as JSON, the bad byte is the useful news; a PNG or a latin-1 HTML page
        # is better described by what it is.
        meant_as_json = not content_type or "json" in content_type
        if isinstance(exc, UnicodeDecodeError) and meant_as_json and data.lstrip()[:1] in (b"{", b"["):
            raise ChainError(
                f"The chain's answer was not UTF-8 text ({not_utf8(exc)}); a JSON answer must be UTF-8"
            ) from None
        raise ChainError(f"The chain's answer was not JSON but {describe_body(data, content_type)}") from None


def _usage(payload) -> dict:
    """The token counts of a whole answer, also inside a scoring server's {"predictions": ...}."""
    if isinstance(payload, dict) and "usage" not in payload and "predictions" in payload:
        payload = payload["predictions"]
        if isinstance(payload, list) and len(payload) == 1:
            payload = payload[0]
    return output_usage(payload)


class _Stopped(Exception):
    """A stream that stopped before its end: `error` is raised when no text had come, `part_way` is
    the reason an incomplete answer gives once some had."""

    def __init__(self, error: ChainError, part_way: str):
        super().__init__(part_way)
        self.error = error
        self.part_way = part_way


def _late(timeout: float) -> _Stopped:
    message = f"The chain did not finish answering within {timeout:g} s"
    return _Stopped(ChainTimeout(message), message)


def _chunk(event: str) -> dict:
    """One streamed chunk, or _Stopped saying what the event was instead."""
    try:
        chunk = json.loads(event)
    except (ValueError, RecursionError):
        what = f"something that is not JSON ({len(event):,} characters)"
        raise _Stopped(
            ChainError(f"The chain streamed {what}"), f"The chain streamed {what} part-way"
        ) from None
    if not isinstance(chunk, dict):
        what = f"something that is not a chunk: {json_shape(chunk)}"
        raise _Stopped(ChainError(f"The chain streamed {what}"), f"The chain streamed, part-way, {what}")
    if chunk.get("error"):
        message = error_message(chunk) or "no message"
        raise _Stopped(
            ChainError(f"The chain failed while answering: {message}"),
            f"The chain reported an error part-way: {message}",
        )
    return chunk


@contextlib.contextmanager
def _reaching(url: str, timeout: float) -> Iterator[None]:
    """urllib3's and the socket's errors, while sending or reading an answer, as ChainErrors."""
    try:
        yield
    except NewConnectionError as exc:  # a subclass of the timeout error, for history's sake
        raise ChainError(f"Could not reach the chain at {url}: {_reason(exc)}") from None
    except (PoolTimeout, TimeoutError):
        raise ChainTimeout(f"The chain did not answer within {timeout:g} s") from None
    except (HTTPError, OSError) as exc:
        raise ChainError(f"Could not reach the chain at {url}: {_reason(exc)}") from None


class HttpEndpointAdapter:
    """One chain behind `url`; streams tokens where the server streams (OpenAI SSE)."""

    def __init__(self, config: dict):
        self.config = config
        self.kind = kind_for(config)
        self.url = endpoint_url(config)

    def _payload(self, messages: list[dict], stream: bool) -> dict:
        if self.kind == MLFLOW:
            # The scoring server's unified LLM input: a chat-messages pyfunc or ChatAgent reads "messages",
            # a ResponsesAgent "input"; each model ignores the other key.
            from .agents import responses_input

            return {"messages": messages, "input": responses_input(messages)}
        payload = {"model": self.config.get("model") or "default", "messages": messages}
        if stream:
            payload["stream"] = True
            payload["stream_options"] = {"include_usage": True}
        return payload

    def _post(self, messages: list[dict], *, timeout: float, stream: bool) -> urllib3.BaseHTTPResponse:
        headers = {"Content-Type": "application/json", **secret_headers(self.config)}
        if stream:
            headers["Accept"] = "text/event-stream"
        with _reaching(self.url, timeout):
            response = _pool.request(
                "POST",
                self.url,
                body=json.dumps(self._payload(messages, stream)).encode(),
                headers=headers,
                timeout=urllib3.Timeout(connect=timeout, read=timeout),
                # Never preloaded: the body is read with a bound (_read_answer, _error_summary, _lines).
                preload_content=False,
                redirect=False,
            )
            if 300 <= response.status < 400:
                # Not followed: the next hop would need the same checks, and the secret header must not go
                # to another host. The app's URL should name the endpoint itself.
                location = urlparse(response.headers.get("Location") or "")
                target = clean_text(location.hostname or urlparse(self.url).hostname or "", 100)
                _discard(response)  # not drained: its body may be endless
                raise ChainError(
                    f"The chain answered a redirect (HTTP {response.status}) to {target}; redirects are not "
                    "followed, so set the app's URL to the endpoint itself"
                )
            if response.status >= 400:
                raise ChainError(f"The chain answered {_error_summary(response)}")
        return response

    def _whole_answer(self, response: urllib3.BaseHTTPResponse, *, timeout: float):
        """The JSON of a non-streamed answer."""
        with _reaching(self.url, timeout):
            data = _read_answer(response)
        return _json(data, _content_type(response))

    def invoke(self, messages: list[dict], *, timeout: float) -> ChainResult:
        started = time.monotonic()
        response = self._post(messages, timeout=timeout, stream=False)
        payload = self._whole_answer(response, timeout=timeout)
        return ChainResult(
            response=response_text(payload),
            latency_ms=round((time.monotonic() - started) * 1000),
            **_usage(payload),
        )

    def stream(self, messages: list[dict], *, timeout: float) -> Iterator[str | ChainResult]:
        if self.kind != OPENAI:
            # The MLflow scoring server does not stream: the whole answer comes at once.
            result = self.invoke(messages, timeout=timeout)
            yield result.response
            yield result
            return
        started = time.monotonic()
        deadline = started + timeout
        response = self._post(messages, timeout=timeout, stream=True)
        if "text/event-stream" not in response.headers.get("Content-Type", ""):
            # The server chose not to stream; take its whole answer.
            payload = self._whole_answer(response, timeout=timeout)
            text = response_text(payload)
            yield text
            yield ChainResult(
                response=text,
                latency_ms=round((time.monotonic() - started) * 1000),
                **_usage(payload),
            )
            return
        parts: list[str] = []
        usage = None
        # The stream is complete at [DONE], or once a choice said why it finished (some servers then
        # close without [DONE], or send the usage late); whatever stops it before that leaves the answer
        # incomplete when some text came, and is a failure when none did.
        done = finished = False
        incomplete_reason = ""
        try:
            try:
                for event in _sse_events(response, settings.CHAIN_MAX_RESPONSE_BYTES):
                    if time.monotonic() > deadline:
                        if finished:
                            break  # only the usage and [DONE] were still to come
                        raise _late(timeout)
                    if event == "[DONE]":
                        done = True
                        break
                    chunk = _chunk(event)
                    usage = chunk.get("usage") or usage
                    for choice in chunk.get("choices") or []:
                        choice = choice if isinstance(choice, dict) else {}
                        finished = finished or bool(choice.get("finish_reason"))
                        delta = choice.get("delta")
                        delta = delta.get("content") if isinstance(delta, dict) else None
                        if isinstance(delta, str) and delta:
                            parts.append(delta)
                            yield delta
                if not (done or finished):
                    raise _Stopped(
                        ChainError("The chain's stream broke off before any answer came: connection closed"),
                        "The chain's stream broke off before the answer was finished: connection closed",
                    )
            except (PoolTimeout, TimeoutError):
                raise _late(timeout) from None
            except (HTTPError, OSError) as exc:
                raise _Stopped(
                    ChainError(f"The chain's stream broke off: {_reason(exc)}"),
                    f"The chain's stream broke off before the answer was finished: {_reason(exc)}",
                ) from None
        except _Stopped as stopped:
            if not (finished or parts):
                raise stopped.error from None  # nothing came to review: a failure, not a partial answer
            # After a finish_reason the answer is whole, whatever happened to the rest of the stream.
            incomplete_reason = "" if finished else stopped.part_way
        finally:
            if not (done and _body_ended(response, deadline)):
                # Broken off, refused, abandoned, or more than the end after [DONE]: the rest must not
                # reach the pool, where the next call would read it as its answer.
                response.close()
            response.release_conn()
        yield ChainResult(
            response="".join(parts),
            latency_ms=round((time.monotonic() - started) * 1000),
            complete=not incomplete_reason,
            incomplete_reason=incomplete_reason,
            **output_usage({"usage": usage}),
        )


def _body_ended(response: urllib3.BaseHTTPResponse, deadline: float) -> bool:
    """Whether a chunked stream's body ends right after its [DONE], within END_OF_BODY_SECONDS (and
    the call's deadline): then the connection serves the next call, with no new connection (nor TLS
    handshake) to make. A body without chunks ends when the server closes: nothing to wait for."""
    sock = getattr(response.connection, "sock", None)
    wait = min(END_OF_BODY_SECONDS, deadline - time.monotonic())
    if not response.chunked or sock is None or wait <= 0:
        return False
    try:
        sock.settimeout(wait)  # the pool sets the call's own timeout again on the next request
        return response.read1(_READ_BLOCK) == b""
    except (HTTPError, OSError, ValueError):
        return False


def _lines(response: urllib3.BaseHTTPResponse, limit: int) -> Iterator[str]:
    """The body's lines as they arrive (read1: whatever has come, without waiting to fill a buffer).

    Refused once more than `limit` bytes came in all, after the lines within them; that also bounds
    a line that never ends.
    """
    pending = bytearray()
    received = 0
    while block := response.read1(min(_READ_BLOCK, limit + 1 - received)):
        received += len(block)
        # Only the new block is split, so a long line costs its length, not its length squared.
        *complete, rest = block.split(b"\n")
        for line in complete:
            pending += line
            yield _line_text(pending)
            pending.clear()
        pending += rest
        if received > limit:
            raise _too_large(limit, "its stream was stopped there")
    if pending:
        yield _line_text(pending)


def _line_text(line: bytearray) -> str:
    try:
        return line.rstrip(b"\r").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Stopped(
            ChainError(
                f"The chain streamed a line that was not UTF-8 text ({not_utf8(exc)}); a stream must be UTF-8"
            ),
            f"The chain's stream was not UTF-8 text part-way ({not_utf8(exc)})",
        ) from None


def _sse_events(response: urllib3.BaseHTTPResponse, limit: int) -> Iterator[str]:
    """The `data:` payloads of a server-sent event stream, one per event."""
    data: list[str] = []
    for line in _lines(response, limit):
        if line == "":
            if data:
                yield "\n".join(data)
                data = []
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
    if data:
        yield "\n".join(data)


def _reason(exc: Exception) -> str:
    # urllib3 prefixes the socket error with the connection; the last part is the readable one.
    text = str(exc)
    return text.rsplit(": ", 1)[-1].rstrip(")'\"") if text else type(exc).__name__
