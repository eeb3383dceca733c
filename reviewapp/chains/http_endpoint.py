"""Chains behind an HTTP endpoint: an MLflow scoring server or an OpenAI-compatible server.

adapter_config: {"url": ..., "kind": "openai" | "mlflow", "model": ..., "secret_header": ...,
"secret_env": ...}. The secret itself is never stored: `secret_env` names the environment
variable that holds it, read at call time.
"""

import json
import os
import time
from collections.abc import Iterator
from urllib.parse import urlparse

import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError
from urllib3.exceptions import TimeoutError as PoolTimeout

from .base import ChainError, ChainResult


class ChainTimeout(ChainError):
    """The chain did not answer within the app's timeout."""


OPENAI = "openai"
MLFLOW = "mlflow"

# urllib3 rather than requests: a fraction of the per-call cost, and its pool is thread-safe.
# Keep-alive connections per host; no retries, so a failure is reported as it happened.
_pool = urllib3.PoolManager(num_pools=50, maxsize=16, block=False, retries=False)


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
    value = os.environ.get(env_name)
    if not value:
        raise ChainError(
            f"The app's endpoint needs the secret in environment variable {env_name}, which is not set"
        )
    # An API key alone in an Authorization header means a bearer token (OpenAI-style servers).
    if header.lower() == "authorization" and " " not in value.strip():
        value = f"Bearer {value.strip()}"
    return {header: value}


def response_text(payload) -> str:
    """The answer from what a chain returned: a string, or an OpenAI chat completion object."""
    if isinstance(payload, dict) and "predictions" in payload:
        payload = payload["predictions"]
    if isinstance(payload, list) and len(payload) == 1:
        payload = payload[0]
    if isinstance(payload, str):
        return payload
    if isinstance(payload, dict):
        choices = payload.get("choices")
        if isinstance(choices, list) and choices:
            first = choices[0] or {}
            message = first.get("message") or {}
            content = message.get("content") if isinstance(message, dict) else None
            if content is None:
                content = first.get("text")
            if isinstance(content, str):
                return content
        for key in ("content", "response", "output", "text"):
            if isinstance(payload.get(key), str):
                return payload[key]
    raise ChainError(
        "The chain's answer was neither a string nor a chat completion: "
        + json.dumps(payload, default=str)[:300]
    )


def usage_counts(usage) -> dict:
    """ChainResult token fields from an OpenAI `usage` object, where the server sent one."""
    if not isinstance(usage, dict):
        return {}
    prompt = usage.get("prompt_tokens", usage.get("input_tokens"))
    completion = usage.get("completion_tokens", usage.get("output_tokens"))
    total = usage.get("total_tokens")
    if total is None and prompt is not None and completion is not None:
        total = prompt + completion
    out = {"request_tokens": prompt, "response_tokens": completion, "total_tokens": total}
    return {k: int(v) for k, v in out.items() if isinstance(v, int | float)}


def _error_text(response: urllib3.BaseHTTPResponse) -> str:
    text = response.data.decode("utf-8", "replace")
    try:
        body = json.loads(text)
        if isinstance(body, dict):
            body = body.get("message") or body.get("error") or body.get("detail") or body
            if isinstance(body, dict) and isinstance(body.get("message"), str):
                body = body["message"]  # OpenAI: {"error": {"message": ...}}
        text = body if isinstance(body, str) else json.dumps(body)
    except ValueError:
        pass
    return text.strip()[:500]


def _json(response: urllib3.BaseHTTPResponse):
    try:
        return json.loads(response.data)
    except ValueError:
        raise ChainError(
            f"The chain's answer was not JSON: {response.data[:300].decode('utf-8', 'replace')}"
        ) from None


class HttpEndpointAdapter:
    """One chain behind `url`; streams tokens where the server streams (OpenAI SSE)."""

    def __init__(self, config: dict):
        self.config = config
        self.kind = kind_for(config)
        self.url = endpoint_url(config)

    def _payload(self, messages: list[dict], stream: bool) -> dict:
        if self.kind == MLFLOW:
            # The scoring server's unified LLM input: a chat-messages pyfunc gets {"messages": [...]}.
            return {"messages": messages}
        payload = {"model": self.config.get("model") or "default", "messages": messages}
        if stream:
            payload["stream"] = True
            payload["stream_options"] = {"include_usage": True}
        return payload

    def _post(self, messages: list[dict], *, timeout: float, stream: bool) -> urllib3.BaseHTTPResponse:
        headers = {"Content-Type": "application/json", **secret_headers(self.config)}
        if stream:
            headers["Accept"] = "text/event-stream"
        try:
            response = _pool.request(
                "POST",
                self.url,
                body=json.dumps(self._payload(messages, stream)).encode(),
                headers=headers,
                timeout=urllib3.Timeout(connect=timeout, read=timeout),
                preload_content=not stream,
                redirect=False,
            )
        except NewConnectionError as exc:  # a subclass of the timeout error, for history's sake
            raise ChainError(f"Could not reach the chain at {self.url}: {_reason(exc)}") from None
        except (PoolTimeout, TimeoutError):
            raise ChainTimeout(f"The chain did not answer within {timeout:g} s") from None
        except (HTTPError, OSError) as exc:
            raise ChainError(f"Could not reach the chain at {self.url}: {_reason(exc)}") from None
        if response.status >= 400:
            if stream:
                response.read()
            detail = _error_text(response)
            response.release_conn()
            raise ChainError(f"The chain answered HTTP {response.status}: {detail}")
        return response

    def invoke(self, messages: list[dict], *, timeout: float) -> ChainResult:
        started = time.monotonic()
        payload = _json(self._post(messages, timeout=timeout, stream=False))
        usage = payload.get("usage") if isinstance(payload, dict) else None
        return ChainResult(
            response=response_text(payload),
            latency_ms=round((time.monotonic() - started) * 1000),
            **usage_counts(usage),
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
            response.read()
            payload = _json(response)
            text = response_text(payload)
            yield text
            yield ChainResult(
                response=text,
                latency_ms=round((time.monotonic() - started) * 1000),
                **usage_counts(payload.get("usage") if isinstance(payload, dict) else None),
            )
            return
        parts: list[str] = []
        usage = None
        try:
            for event in _sse_events(response):
                if time.monotonic() > deadline:
                    raise ChainTimeout(f"The chain did not finish answering within {timeout:g} s")
                if event == "[DONE]":
                    break
                try:
                    chunk = json.loads(event)
                except ValueError:
                    raise ChainError(
                        f"The chain streamed something that is not JSON: {event[:200]}"
                    ) from None
                if not isinstance(chunk, dict):
                    raise ChainError(f"The chain streamed something that is not a chunk: {event[:200]}")
                if chunk.get("error"):
                    raise ChainError(f"The chain failed while answering: {chunk['error']}")
                usage = chunk.get("usage") or usage
                for choice in chunk.get("choices") or []:
                    delta = ((choice if isinstance(choice, dict) else {}).get("delta") or {}).get("content")
                    if isinstance(delta, str) and delta:
                        parts.append(delta)
                        yield delta
        except (PoolTimeout, TimeoutError):
            raise ChainTimeout(f"The chain did not finish answering within {timeout:g} s") from None
        except (HTTPError, OSError) as exc:
            raise ChainError(f"The chain's stream broke off: {_reason(exc)}") from None
        finally:
            response.release_conn()
        yield ChainResult(
            response="".join(parts),
            latency_ms=round((time.monotonic() - started) * 1000),
            **usage_counts(usage),
        )


def _lines(response: urllib3.BaseHTTPResponse) -> Iterator[str]:
    """The body's lines as they arrive (read1: whatever has come, without waiting to fill a buffer)."""
    pending = b""
    while True:
        block = response.read1(65536)
        if not block:
            break
        pending += block
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.rstrip(b"\r").decode("utf-8")
    if pending:
        yield pending.rstrip(b"\r").decode("utf-8")


def _sse_events(response: urllib3.BaseHTTPResponse) -> Iterator[str]:
    """The `data:` payloads of a server-sent event stream, one per event."""
    data: list[str] = []
    for line in _lines(response):
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
